// The memory estimate of a session, and its human-readable form (shared by
// qlite_estimate_memory, `qlite fit` and the error of a session that does not fit).
#pragma once
#include <string>

#include "qlite/qlite.h"
#include "session.h"

namespace qlite {

qlite_memory_estimate EstimateFor(const Model& model, const SessionMemory& mem);
std::string FormatBytes(uint64_t bytes);  // "1.50 MiB"
std::string FormatEstimate(const qlite_memory_estimate& e);
// The KV cache formula with this session's numbers, e.g.
// "5 layers x 2 (K,V) x 4 kv heads x 8 head dim x 256 positions x 4 B (f32)".
std::string KvFormula(const Model& model, const SessionPlan& plan);

}  // namespace qlite
