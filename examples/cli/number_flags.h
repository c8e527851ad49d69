// Strict parsing of numeric flag values for the CLI: the whole string must be a number in
// range (atoi/atof turned "abc" into 0 and "hot" into 0.0 without a word). Header-only.
#pragma once
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace qlite_cli {

// Decimal integer in [min, max], nothing else (no sign for unsigned, no spaces, no suffix).
inline bool ParseInteger(const char* s, int64_t min, int64_t max, int64_t* out) {
  if (!s || !*s || !((*s >= '0' && *s <= '9') || (*s == '-' && min < 0))) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (errno == ERANGE || end == s || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

inline bool ParseUnsigned(const char* s, uint64_t max, uint64_t* out) {
  if (!s || *s < '0' || *s > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno == ERANGE || *end != '\0' || v > max) return false;
  *out = v;
  return true;
}

// A finite decimal number in [min, max] (no "nan", "inf", hex floats or trailing junk).
inline bool ParseReal(const char* s, double min, double max, float* out) {
  if (!s || !*s) return false;
  for (const char* p = s; *p; ++p)
    if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '+' || *p == 'e' || *p == 'E')) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (errno == ERANGE || end == s || *end != '\0' || !std::isfinite(v) || v < min || v > max) return false;
  *out = static_cast<float>(v);
  return true;
}

// The flag-level forms: print "prog: FLAG needs ..., not 'VALUE'" and return false on junk.
template <typename T>
bool IntegerFlag(const char* prog, const char* flag, const char* v, int64_t min, int64_t max, T* out) {
  int64_t x = 0;
  if (!ParseInteger(v, min, max, &x)) {
    std::fprintf(stderr, "%s: %s needs an integer in [%lld, %lld], not '%s'\n", prog, flag, (long long)min,
                 (long long)max, v ? v : "");
    return false;
  }
  *out = static_cast<T>(x);
  return true;
}

inline bool RealFlag(const char* prog, const char* flag, const char* v, double min, double max, float* out) {
  if (!ParseReal(v, min, max, out)) {
    std::fprintf(stderr, "%s: %s needs a number in [%g, %g], not '%s'\n", prog, flag, min, max, v ? v : "");
    return false;
  }
  return true;
}

}  // namespace qlite_cli
