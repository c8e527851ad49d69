// --arm-dot none|sdot|all for the kernel benchmarks, and the "+sdot+smmla" suffix they print
// after the target name (arch::ArmDotExtensions).
#pragma once
#include <string>

#include "qlite/arch/matmul.h"

namespace qlite_bench {

// Limits the kernels to the named level; false for an unknown name.
inline bool ApplyArmDotFlag(const std::string& level) {
  if (level == "none") qlite::arch::LimitArmDotExtensionsForTest(0);
  else if (level == "sdot") qlite::arch::LimitArmDotExtensionsForTest(qlite::arch::kArmDotProd);
  else if (level != "all") return false;
  return true;
}

inline std::string ArmDotSuffix() {
  const unsigned ext = qlite::arch::ArmDotExtensions();
  return std::string(ext & qlite::arch::kArmDotProd ? "+sdot" : "") +
         (ext & qlite::arch::kArmI8mm ? "+smmla" : "");
}

}  // namespace qlite_bench
