// ConvertModel: SourceModel -> .qlm through a bounded pipeline: worker threads load and
// hash, quantize (large tensors in row pieces; sources that read row ranges in cache-sized
// row blocks, never whole) and measure tensors; the calling thread writes them in name order
// and folds their hashes into the fingerprint, so the file does not depend on the thread count.
#include "qlite/format/convert.h"

#include "qlite/qlite_version.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <condition_variable>
#include <map>
#include <mutex>
#include <new>
#include <thread>

#include "qlite/base/files.h"
#include "qlite/format/checksum.h"
#include "qlite/format/model_file.h"
#include "qlite/format/writer.h"
#include "quantize_stages.h"

namespace qlite {
namespace {

constexpr const char* kConverterVersion = "qlite-convert " QLITE_VERSION_STRING;

std::string Basename(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

void HashU64(uint64_t v, Xxh64Stream* h) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  h->Update(b, 8);
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

// The --tensor-weights scheme of a tensor, or null.
const QuantSpec* TensorScheme(const ConvertOptions& options, const std::string& name) {
  for (const auto& [pattern, spec] : options.tensor_weights) {
    if (name == pattern) return &spec;
    const size_t dot = name.rfind('.');
    if (name.compare(0, 4, "blk.") == 0 && dot != std::string::npos && name.compare(dot + 1, std::string::npos, pattern) == 0)
      return &spec;
  }
  return nullptr;
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

// The error of one stretch of a tensor: q's stored values against `want` (what was to be
// stored). Pieces of a tensor are added up in row order, so the summary does not depend on
// the thread count.
struct ErrorSum {
  double max_abs = 0, sum_sq = 0;
};

Status MeasureError(const QuantizedTensor& q, const float* want, ErrorSum* out) {
  std::vector<float> row(q.cols);
  const QuantizedView view = ViewOf(q);
  for (uint64_t r = 0; r < q.rows; ++r) {
    QLITE_RETURN_IF_ERROR(DequantizeRow(view, r, row.data()));
    const float* w = want + r * q.cols;
    double max_abs = 0, sum_sq = 0;
    for (uint64_t c = 0; c < q.cols; ++c) {
      const double e = std::fabs(double(row[c]) - double(w[c]));
      max_abs = std::max(max_abs, e);
      sum_sq += e * e;
    }
    out->max_abs = std::max(out->max_abs, max_abs);
    out->sum_sq += sum_sq;
  }
  return Status::Ok();
}

void AddError(const ErrorSum& e, uint64_t values, ConversionStat* stat) {
  stat->max_abs_error = std::max(stat->max_abs_error, e.max_abs);
  stat->sum_sq_error += e.sum_sq;
  stat->values += values;
}

// One source tensor on its way through the pipeline; the fields after `spec` belong to
// whichever thread the scheduler gave the tensor's current step to.
struct TensorJob {
  std::string name;
  const SourceTensor* src = nullptr;
  uint64_t rows = 0, cols = 0;
  bool keep = false;  // stored in the source's own scheme (keep_source_*)
  QuantSpec spec;     // what Quantize makes of it (unless kept)
  // Calibration-aware quantization (ConvertOptions::calibration) and the tensor's input.
  const CalibrationOptions* calibration = nullptr;
  const InputStats* input_stats = nullptr;
  uint64_t piece_rows = 0;
  size_t n_pieces = 1;
  bool streamed = false;  // decoded by ConvertTensor in row blocks (load_rows), never whole
  uint64_t block_rows = 0;  // a multiple of 16


  std::vector<float> values;        // to be quantized (after any LoRA merge)
  std::vector<uint64_t> row_hashes;  // XXH64 of each row's source f32 values, before any merge
  bool rows_hashed = false;          // by LoadTensor (before a merge); else by ConvertTensor
  bool merged = false;
  QuantizedTensor q;
  std::vector<ErrorSum> errors;  // per piece
  uint64_t checksum = 0;

  // Scheduler state (guarded by the pipeline's mutex).
  bool loaded = false, quantized = false;
  size_t pieces_claimed = 0, pieces_done = 0;
};

Status LoadTensor(const ConvertOptions& options, TensorJob* job) {
  const SourceTensor& t = *job->src;
  job->row_hashes.resize(job->rows);
  if (!job->streamed) {
    Status s = t.load(&job->values);
    if (!s.ok()) return Status(s.code(), "loading " + job->name + ": " + s.message());
    if (job->values.size() != job->rows * job->cols)
      return StatusError(StatusCode::kMismatch, "tensor %s: loader gave %zu values for %llu", job->name.c_str(),
                         job->values.size(), static_cast<unsigned long long>(job->rows * job->cols));
  }
  if (options.merge && !job->streamed) {  // applied after hashing: the fingerprint keeps the source's values
    for (uint64_t r = 0; r < job->rows; ++r)
      job->row_hashes[r] = Xxh64(job->values.data() + r * job->cols, job->cols * sizeof(float));  // LE hosts
    job->rows_hashed = true;
    const std::vector<float> unmerged = job->values;
    Status s = options.merge(job->name, t.shape, &job->values);
    if (!s.ok()) return Status(s.code(), "merging adapters into " + job->name + ": " + s.message());
    job->merged = job->values != unmerged;
  }
  if (job->n_pieces > 1 || job->streamed) {  // pieces and blocks are quantized into their slices
    QuantizedTensor& q = job->q;
    quant::StartTensor(job->spec, job->rows, job->cols, &q);
    q.data.resize(StoredRows(job->spec, job->rows) * q.row_stride);
    const uint64_t scale_bytes = NumScales(job->spec, job->rows, job->cols) * ScaleTypeBytes(job->spec.scale_type);
    q.scales.resize(scale_bytes);
    if (job->spec.dtype == fb::DType::U4) q.mins.resize(scale_bytes);
  }
  job->errors.assign(job->n_pieces, ErrorSum());
  return Status::Ok();
}

// A quantizer's error for `rows` rows of a tensor from row `first`: a non-finite value is
// named by its row in the whole tensor.
Status QuantizeError(const TensorJob& job, uint64_t first, const float* values, uint64_t rows, const Status& s) {
  for (uint64_t i = 0; i < rows * job.cols; ++i)
    if (!std::isfinite(values[i]))
      return StatusError(s.code(), "quantizing %s: non-finite value (%g) at row %llu col %llu", job.name.c_str(),
                         values[i], static_cast<unsigned long long>(first + i / job.cols),
                         static_cast<unsigned long long>(i % job.cols));
  return Status(s.code(), "quantizing " + job.name + ": " + s.message());
}

// Copies the bytes of `part`, rows from `first` of the tensor, into their slices of `whole`
// (row groups of 16 start on a multiple of 16 rows: every layout's slice is contiguous).
void CopyRows(const QuantizedTensor& part, uint64_t first, QuantizedTensor* whole) {
  const uint64_t scale_bytes = ScaleTypeBytes(whole->spec.scale_type), gpr = GroupsPerRow(whole->spec, whole->cols);
  std::copy(part.data.begin(), part.data.end(), whole->data.begin() + first * whole->row_stride);
  std::copy(part.scales.begin(), part.scales.end(), whole->scales.begin() + first * gpr * scale_bytes);
  std::copy(part.mins.begin(), part.mins.end(), whole->mins.begin() + first * gpr * scale_bytes);
}

// Quantizes piece `piece` of a streamed tensor in blocks of rows decoded into one buffer per
// thread (ConvertOptions::block_values: they stay in cache from the decode to the codes).
// The error sums and row hashes are those of the piece at once (rows in order).
Status ConvertStreamed(TensorJob* job, size_t piece) {
  const uint64_t first = piece * job->piece_rows, end = std::min(job->rows, first + job->piece_rows);
  const uint64_t block = job->block_rows;
  thread_local std::vector<float> values;
  values.resize(std::min(block, end - first) * job->cols);
  ErrorSum& e = job->errors[piece];
  QuantizedTensor part;
  for (uint64_t r0 = first; r0 < end; r0 += block) {
    const uint64_t rows = std::min(block, end - r0);
    Status s = job->src->load_rows(r0, rows, values.data());
    if (!s.ok()) return Status(s.code(), "loading " + job->name + ": " + s.message());
    bool measured = false;
    s = quant::QuantizeMeasured(values.data(), rows, job->cols, job->spec, &part, &e.max_abs, &e.sum_sq,
                                job->row_hashes.data() + r0, &measured);
    if (!s.ok()) return QuantizeError(*job, r0, values.data(), rows, s);
    if (!measured) QLITE_RETURN_IF_ERROR(MeasureError(part, values.data(), &e));
    CopyRows(part, r0, &job->q);
  }
  return Status::Ok();
}

// Quantizes piece `piece` of a loaded tensor (rows piece*piece_rows.., or the whole tensor)
// and measures its error: the one place that decides how a tensor's values are stored.
Status ConvertTensor(TensorJob* job, size_t piece) {
  if (job->streamed) return ConvertStreamed(job, piece);
  const SourceTensor& t = *job->src;
  const uint64_t first = piece * job->piece_rows;
  const uint64_t rows = std::min(job->rows - first, job->piece_rows);
  const float* values = job->values.data() + first * job->cols;
  QuantizedTensor part;
  QuantizedTensor& q = job->n_pieces > 1 ? part : job->q;
  Status s;
  bool measured = false;
  uint64_t* row_hashes = job->rows_hashed ? nullptr : job->row_hashes.data() + first;
  if (row_hashes && (job->keep || job->calibration)) {  // the default path hashes while quantizing
    for (uint64_t r = 0; r < rows; ++r) row_hashes[r] = Xxh64(values + r * job->cols, job->cols * sizeof(float));
    row_hashes = nullptr;
  }
  if (job->keep && t.load_stored && !job->merged && job->spec.dtype == t.stored_scheme.dtype) {
    QLITE_RETURN_IF_ERROR(CheckFinite(values, rows, job->cols));
    s = t.load_stored(&q);
    if (s.ok()) s = Relayout(job->spec.layout, &q);
  } else if (job->calibration) {
    s = QuantizeCalibrated(values, rows, job->cols, job->spec, job->input_stats, *job->calibration, &q);
  } else {
    ErrorSum& e = job->errors[piece];
    s = quant::QuantizeMeasured(values, rows, job->cols, job->spec, &q, &e.max_abs, &e.sum_sq, row_hashes,
                                &measured);
  }
  if (!s.ok()) return QuantizeError(*job, first, values, rows, s);
  if (!measured) QLITE_RETURN_IF_ERROR(MeasureError(q, values, &job->errors[piece]));
  if (job->n_pieces > 1) CopyRows(part, first, &job->q);
  return Status::Ok();
}

// Adds a tensor's record to the model fingerprint (FORMAT.md, "Integrity"): name length and
// bytes, rank and dimensions, the hash of its rows' hashes.
void FingerprintTensor(const TensorJob& job, Xxh64Stream* h) {
  HashU64(job.name.size(), h);
  h->Update(job.name.data(), job.name.size());
  HashU64(job.src->shape.size(), h);
  for (uint64_t d : job.src->shape) HashU64(d, h);
  Xxh64Stream rows;
  for (uint64_t r : job.row_hashes) HashU64(r, &rows);
  HashU64(rows.Digest(), h);
}

// Workers take, in this order of preference: a piece of the earliest loaded tensor, the
// next tensor to load while fewer than `window` tensors are between loading and written.
// The calling thread writes finished tensors in order.
class Pipeline {
 public:
  Pipeline(std::vector<TensorJob>* jobs, const ConvertOptions& options, size_t window)
      : jobs_(*jobs), options_(options), window_(window) {}

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!failed_ && next_write_ < jobs_.size()) {
      TensorJob* piece_job = nullptr;
      for (size_t i = next_write_; i < next_load_ && !piece_job; ++i)
        if (jobs_[i].loaded && jobs_[i].pieces_claimed < jobs_[i].n_pieces) piece_job = &jobs_[i];
      if (piece_job) {
        const size_t piece = piece_job->pieces_claimed++;
        lock.unlock();
        Status s = Run([&] { return ConvertTensor(piece_job, piece); });
        lock.lock();
        if (!s.ok()) {
          FailLocked(std::move(s));
          continue;
        }
        if (++piece_job->pieces_done == piece_job->n_pieces) {
          lock.unlock();
          piece_job->checksum = ModelWriter::TensorChecksum(piece_job->q);
          lock.lock();
          piece_job->quantized = true;
        }
        Notify();
        continue;
      }
      if (next_load_ < jobs_.size() && next_load_ < next_write_ + window_) {
        TensorJob& job = jobs_[next_load_++];
        if (!job.streamed) TakeBuffer(&job);
        lock.unlock();
        Status s = Run([&] { return LoadTensor(options_, &job); });
        lock.lock();
        if (!s.ok()) FailLocked(std::move(s));
        job.loaded = s.ok();
        Notify();
        continue;
      }
      work_cv_.wait(lock);
    }
  }

  // Waits until tensor i is quantized; false when the run failed.
  bool WaitForTensor(size_t i) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return failed_ || jobs_[i].quantized; });
    return !failed_;
  }
  void Written(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    if (jobs_[i].values.capacity()) buffers_.push_back(std::move(jobs_[i].values));
    jobs_[i] = TensorJob();  // frees its bytes
    ++next_write_;
    Notify();
  }
  void Fail(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    FailLocked(std::move(s));
  }
  const Status& error() const { return error_; }

 private:
  void FailLocked(Status s) {  // the first error wins; everyone stops
    if (!failed_) error_ = std::move(s);
    failed_ = true;
    Notify();
  }
  // Written tensors' value buffers are loaded into again (the largest first): their pages are
  // mapped already, and a loader's resize within the size left there writes nothing.
  void TakeBuffer(TensorJob* job) {
    if (buffers_.empty()) return;
    auto largest = std::max_element(buffers_.begin(), buffers_.end(),
                                    [](const auto& a, const auto& b) { return a.capacity() < b.capacity(); });
    if (largest->capacity() >= job->rows * job->cols) job->values = std::move(*largest);
    buffers_.erase(largest);  // one too small goes: a new allocation replaces it
  }
  void Notify() {
    work_cv_.notify_all();
    done_cv_.notify_all();
  }
  template <class Fn>
  static Status Run(Fn fn) {
    try {
      return fn();
    } catch (const std::bad_alloc&) {
      return Status(StatusCode::kOutOfMemory, "out of memory converting tensors");
    }
  }

  std::vector<TensorJob>& jobs_;
  const ConvertOptions& options_;
  const size_t window_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::vector<float>> buffers_;
  size_t next_load_ = 0, next_write_ = 0;
  bool failed_ = false;
  Status error_;
};

}  // namespace

double ConversionStat::RmsError() const { return values ? std::sqrt(sum_sq_error / double(values)) : 0.0; }

Status ConvertModel(const SourceModel& source, const ConvertOptions& options, const std::string& out_path,
                    const ProgressFn& progress, ConvertSummary* summary) {
  std::map<std::string, const SourceTensor*> by_name;  // name order = fingerprint order
  QLITE_RETURN_IF_ERROR(CheckSource(source, &by_name));
  QLITE_RETURN_IF_ERROR(CheckOutputPath(out_path, {source.source_path}));
  QLITE_RETURN_IF_ERROR(ValidateSpec(options.weights));
  QLITE_RETURN_IF_ERROR(ValidateSpec(options.embeddings));
  for (const auto& [pattern, spec] : options.tensor_weights) {
    QLITE_RETURN_IF_ERROR(ValidateSpec(spec));
    bool used = false;
    for (const auto& [name, t] : by_name) used = used || TensorScheme(options, name) == &spec;
    if (!used) return StatusError(StatusCode::kInvalidArgument, "no tensor is named %s", pattern.c_str());
  }

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
  std::vector<TensorJob> jobs;
  jobs.reserve(by_name.size());
  for (const auto& [name, t] : by_name) {
    TensorJob job;
    job.name = name;
    job.src = t;
    job.rows = t->shape.size() == 2 ? t->shape[0] : 1;
    job.cols = t->shape.back();
    const bool embedding = name == "token_embd" || name == "output";
    const bool kept_scheme = quantized_source && t->has_stored_scheme &&
                             (embedding ? options.keep_source_embeddings : options.keep_source_weights);
    const QuantSpec* forced = TensorScheme(options, name);
    job.keep = kept_scheme && !forced;
    if (!IsAlwaysF32(name, t->shape.size()))  // else the default spec: F32
      job.spec = forced      ? *forced
                 : job.keep ? KeptScheme(t->stored_scheme, (embedding ? options.embeddings : options.weights).layout)
                            : embedding ? options.embeddings : options.weights;
    if (options.calibration.stats && !job.keep && !IsFloatType(job.spec.dtype)) {
      job.calibration = &options.calibration;
      job.input_stats = options.calibration.stats->Find(MatrixInputOf(name, source.config.tied_embeddings));
    }
    // Pieces hold whole scale groups and double-quantization blocks only where a scale
    // belongs to rows of one piece: not PerTensor, not U8 scales, not kept source storage.
    const bool splittable = !job.keep && job.spec.granularity != fb::Granularity::PerTensor &&
                            (IsFloatType(job.spec.dtype) || job.spec.scale_type != fb::DType::U8);
    // Row pieces are a multiple of 16 rows, so every layout's row groups and scales of a
    // piece are a contiguous slice of the whole tensor's.
    job.piece_rows = job.rows;
    if (splittable && job.rows * job.cols > 2 * options.piece_values)
      job.piece_rows = std::max<uint64_t>(16, options.piece_values / job.cols / 16 * 16);
    job.n_pieces = static_cast<size_t>((job.rows + job.piece_rows - 1) / job.piece_rows);
    // Streamed in row blocks where nothing needs the whole tensor's values at once.
    job.streamed = splittable && t->load_rows && !options.merge && !job.calibration;
    job.block_rows = std::max<uint64_t>(16, options.block_values / std::max<uint64_t>(1, job.cols) / 16 * 16);
    jobs.push_back(std::move(job));
  }

  unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<size_t>(threads, 256));
  Pipeline pipeline(&jobs, options, threads + 2);
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < threads; ++i) workers.emplace_back([&pipeline] { pipeline.Work(); });
  std::vector<ConversionStat> stats;
  uint64_t n_params = 0;
  Xxh64Stream fingerprint_hash;
  for (size_t i = 0; i < jobs.size() && pipeline.WaitForTensor(i); ++i) {
    TensorJob& job = jobs[i];
    const bool kept = job.keep && !IsAlwaysF32(job.name, job.src->shape.size());
    ConversionStat* stat =
        StatFor(job.src->source_dtype, job.q.spec, kept, kept && job.src->stored_exact && !job.merged, &stats);
    for (size_t p = 0; p < job.n_pieces; ++p) {
      const uint64_t rows = std::min(job.rows - p * job.piece_rows, job.piece_rows);
      AddError(job.errors[p], rows * job.cols, stat);
    }
    ++stat->tensors;
    Status s = writer.AddTensor(job.name, job.src->shape, job.q, job.checksum);
    if (!s.ok()) {
      pipeline.Fail(std::move(s));
      break;
    }
    n_params += job.rows * job.cols;
    FingerprintTensor(job, &fingerprint_hash);
    const std::string name = job.name;
    pipeline.Written(i);
    if (progress) progress(i + 1, jobs.size(), name);
  }
  for (std::thread& w : workers) w.join();
  QLITE_RETURN_IF_ERROR(pipeline.error());  // the writer's destructor removes its temp files
  const uint64_t fingerprint = fingerprint_hash.Digest();

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
