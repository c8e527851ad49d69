// ConvertModel: SourceModel -> .qlm. Loads one tensor at a time (bounded memory), so the
// peak is one f32 tensor plus its quantized copy.
#include "qlite/format/convert.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>

#include "qlite/base/files.h"
#include "qlite/format/checksum.h"
#include "qlite/format/model_file.h"
#include "qlite/format/writer.h"

namespace qlite {
namespace {

constexpr const char* kConverterVersion = "qlite-convert 0.1.0";

std::string Basename(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

uint64_t HashU64(uint64_t v, uint64_t h) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  return Fnv1a64(b, 8, h);
}

Status CheckSource(const SourceModel& src, std::map<std::string, const SourceTensor*>* by_name) {
  QLITE_RETURN_IF_ERROR(CheckConfig(src.config));
  QLITE_RETURN_IF_ERROR(CheckTokenizer(src.tokenizer));  // what the runtime would refuse
  QLITE_RETURN_IF_ERROR(CheckLayerCount(src.config, src.tensors.size()));
  const TokenizerData& tok = src.tokenizer;
  if (tok.pieces.size() != src.config.vocab_size)
    return StatusError(StatusCode::kMismatch, "tokenizer has %zu pieces but vocab_size is %u", tok.pieces.size(),
                       src.config.vocab_size);
  if ((!tok.scores.empty() && tok.scores.size() != tok.pieces.size()) ||
      (!tok.kinds.empty() && tok.kinds.size() != tok.pieces.size()))
    return Status(StatusCode::kMismatch, "tokenizer scores/kinds do not match its pieces");
  for (const SourceTensor& t : src.tensors) {
    if (t.shape.empty() || t.shape.size() > 2 || !t.load)
      return StatusError(StatusCode::kInvalidArgument, "tensor %s: rank %zu not supported", t.name.c_str(),
                         t.shape.size());
    if (!by_name->emplace(t.name, &t).second)
      return StatusError(StatusCode::kInvalidArgument, "duplicate tensor %s", t.name.c_str());
  }
  for (const ExpectedTensor& e : ExpectedTensors(src.config)) {
    auto it = by_name->find(e.name);
    if (it == by_name->end()) return StatusError(StatusCode::kMismatch, "source lacks tensor %s", e.name.c_str());
    if (it->second->shape != e.shape) {
      std::string got, want;
      for (uint64_t d : it->second->shape) got += (got.empty() ? "" : "x") + std::to_string(d);
      for (uint64_t d : e.shape) want += (want.empty() ? "" : "x") + std::to_string(d);
      return StatusError(StatusCode::kMismatch, "tensor %s has shape %s, config expects %s", e.name.c_str(),
                         got.c_str(), want.c_str());
    }
  }
  return Status::Ok();
}

// A kept tensor's scheme in the layout asked for where the scheme has it: float tensors are
// RowMajor only, double-quantized scales are not regrouped for Interleave16x4.
QuantSpec KeptScheme(QuantSpec stored, fb::Layout wanted) {
  if (!IsFloatType(stored.dtype) && !(wanted == fb::Layout::Interleave16x4 && stored.scale_type == fb::DType::U8))
    stored.layout = wanted;
  return stored;
}

ConversionStat* StatFor(const std::string& source_dtype, const QuantSpec& stored, bool kept, bool exact,
                        std::vector<ConversionStat>* stats) {
  for (ConversionStat& c : *stats)
    if (c.source_dtype == source_dtype && c.kept == kept && c.exact_scheme == exact && c.stored.dtype == stored.dtype &&
        QuantText(c.stored) == QuantText(stored) && c.stored.layout == stored.layout)
      return &c;
  ConversionStat c;
  c.source_dtype = source_dtype;
  c.stored = stored;
  c.kept = kept;
  c.exact_scheme = exact;
  stats->push_back(c);
  return &stats->back();
}

// Adds the error of q's stored values against `want` (what was to be stored) to *stat.
Status AddError(const QuantizedTensor& q, const std::vector<float>& want, ConversionStat* stat) {
  std::vector<float> row(q.cols);
  const QuantizedView view = ViewOf(q);
  for (uint64_t r = 0; r < q.rows; ++r) {
    QLITE_RETURN_IF_ERROR(DequantizeRow(view, r, row.data()));
    for (uint64_t c = 0; c < q.cols; ++c) {
      const double e = std::fabs(double(row[c]) - double(want[r * q.cols + c]));
      stat->max_abs_error = std::max(stat->max_abs_error, e);
      stat->sum_sq_error += e * e;
    }
  }
  ++stat->tensors;
  stat->values += q.rows * q.cols;
  return Status::Ok();
}

}  // namespace

double ConversionStat::RmsError() const { return values ? std::sqrt(sum_sq_error / double(values)) : 0.0; }

Status ConvertModel(const SourceModel& source, const ConvertOptions& options, const std::string& out_path,
                    const ProgressFn& progress, ConvertSummary* summary) {
  std::map<std::string, const SourceTensor*> by_name;  // name order = fingerprint order
  QLITE_RETURN_IF_ERROR(CheckSource(source, &by_name));
  QLITE_RETURN_IF_ERROR(CheckOutputPath(out_path, {source.source_path}));
  QLITE_RETURN_IF_ERROR(ValidateSpec(options.weights));
  QLITE_RETURN_IF_ERROR(ValidateSpec(options.embeddings));

  // Large models: a generous meta estimate so the writer puts header + meta in front of the
  // data in place (FlatBuffers adds a few words per string and per table). Small models:
  // no reserve, the tightest layout, at the price of one cheap rewrite.
  uint64_t n_values = 0;
  for (const SourceTensor& t : source.tensors) n_values += t.shape.size() == 2 ? t.shape[0] * t.shape[1] : t.shape[0];
  uint64_t reserve = 4096 + source.tokenizer.chat_template.size() + source.tokenizer.pre_tokenizer.size();
  for (const std::string& p : source.tokenizer.pieces) reserve += p.size() + 16;
  for (const std::string& m : source.tokenizer.merges) reserve += m.size() + 16;
  reserve += 8 * source.tokenizer.pieces.size();  // scores and kinds
  for (const SourceTensor& t : source.tensors) reserve += t.name.size() + 256;
  for (const AdapterRecord& a : options.adapters) reserve += a.name.size() + 64;
  reserve += reserve / 4 + options.quantization_text.size() + source.source_path.size() + source.source_format.size();
  if (n_values < (uint64_t{64} << 20)) reserve = 0;
  ModelWriter writer;
  QLITE_RETURN_IF_ERROR(writer.Open(out_path, {options.tensor_alignment, options.segment_alignment, reserve}));
  writer.SetConfig(source.config);
  writer.SetTokenizer(source.tokenizer);

  bool quantized_source = false;  // keep_source_* apply to sources with quantized tensors only
  for (const SourceTensor& t : source.tensors)
    quantized_source |= t.has_stored_scheme && !IsFloatType(t.stored_scheme.dtype);
  std::vector<ConversionStat> stats;
  uint64_t fingerprint = kFnv64Offset, n_params = 0;
  size_t done = 0;
  std::vector<float> values;
  for (const auto& [name, t] : by_name) {
    const uint64_t rows = t->shape.size() == 2 ? t->shape[0] : 1, cols = t->shape.back();
    values.clear();
    Status s = t->load(&values);
    if (!s.ok()) return Status(s.code(), "loading " + name + ": " + s.message());
    if (values.size() != rows * cols)
      return StatusError(StatusCode::kMismatch, "tensor %s: loader gave %zu values for %llu", name.c_str(),
                         values.size(), static_cast<unsigned long long>(rows * cols));
    fingerprint = Fnv1a64(name.data(), name.size(), fingerprint);
    for (uint64_t d : t->shape) fingerprint = HashU64(d, fingerprint);
    fingerprint = Fnv1a64(values.data(), values.size() * sizeof(float), fingerprint);  // LE hosts

    bool merged = false;
    if (options.merge) {
      const std::vector<float> before = values;
      s = options.merge(name, t->shape, &values);
      if (!s.ok()) return Status(s.code(), "merging adapters into " + name + ": " + s.message());
      merged = values != before;
    }

    const bool embedding = name == "token_embd" || name == "output";
    const bool keep = quantized_source && t->has_stored_scheme &&
                      (embedding ? options.keep_source_embeddings : options.keep_source_weights);
    QuantSpec spec;  // default-constructed dtype is F32
    if (!IsAlwaysF32(name, t->shape.size()))
      spec = keep ? KeptScheme(t->stored_scheme, (embedding ? options.embeddings : options.weights).layout)
                  : embedding ? options.embeddings : options.weights;
    QuantizedTensor q;
    if (keep && t->load_stored && !merged && spec.dtype == t->stored_scheme.dtype) {
      QLITE_RETURN_IF_ERROR(CheckFinite(values.data(), rows, cols));
      s = t->load_stored(&q);
      if (s.ok()) s = Relayout(spec.layout, &q);
    } else {
      s = Quantize(values.data(), rows, cols, spec, &q);
    }
    if (!s.ok()) return Status(s.code(), "quantizing " + name + ": " + s.message());
    const bool kept = keep && !IsAlwaysF32(name, t->shape.size());
    ConversionStat* stat = StatFor(t->source_dtype, q.spec, kept, kept && t->stored_exact && !merged, &stats);
    QLITE_RETURN_IF_ERROR(AddError(q, values, stat));
    QLITE_RETURN_IF_ERROR(writer.AddTensor(name, t->shape, q));
    n_params += rows * cols;
    if (progress) progress(++done, by_name.size(), name);
  }

  ProvenanceInfo prov;
  prov.source = Basename(source.source_path);
  prov.source_format = source.source_format;
  prov.converter_version = kConverterVersion;
  prov.quantization = options.quantization_text;
  if (quantized_source && (options.keep_source_weights || options.keep_source_embeddings))
    prov.quantization += std::string(prov.quantization.empty() ? "" : "; ") + "quantized source tensors kept (" +
                         (options.keep_source_weights ? "weights" : "") +
                         (options.keep_source_weights && options.keep_source_embeddings ? ", " : "") +
                         (options.keep_source_embeddings ? "embeddings" : "") + ")";
  prov.adapters = options.adapters;
  // SOURCE_DATE_EPOCH (reproducible-builds convention) makes the output byte-identical.
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  prov.created_unix = epoch && *epoch ? std::strtoull(epoch, nullptr, 10) : static_cast<uint64_t>(std::time(nullptr));
  writer.SetProvenance(prov);
  writer.SetFingerprint(fingerprint);
  uint64_t file_size = 0;
  QLITE_RETURN_IF_ERROR(writer.Finish(&file_size));
  if (summary) {
    summary->conversions = std::move(stats);
    summary->n_params = n_params;
    summary->file_size = file_size;
    summary->fp16_size = n_params * 2;
    summary->fingerprint = fingerprint;
  }
  return Status::Ok();
}

}  // namespace qlite
