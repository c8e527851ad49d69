// The fuzz targets (one per input format or parser) and helpers they share.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace qlite_fuzz {

using TargetFn = void (*)(const uint8_t* data, size_t size);
struct Target {
  const char* name;
  TargetFn fn;
};

void FuzzQlm(const uint8_t* data, size_t size);         // .qlm reader (C API open from memory)
void FuzzQlmSession(const uint8_t* data, size_t size);  // .qlm reader, then a short session
void FuzzQla(const uint8_t* data, size_t size);         // .qla adapter reader + shape check
void FuzzGguf(const uint8_t* data, size_t size);        // GGUF importer, every tensor loaded
void FuzzSafetensors(const uint8_t* data, size_t size); // HF folder: config.json + safetensors
void FuzzLlama2c(const uint8_t* data, size_t size);     // llama2.c checkpoint importer
void FuzzTokenizer(const uint8_t* data, size_t size);   // encode + decode (round trip)
void FuzzCliArgs(const uint8_t* data, size_t size);     // the CLI's flag parsers
void FuzzChatTemplate(const uint8_t* data, size_t size); // Jinja chat template parse + render
void FuzzGrammar(const uint8_t* data, size_t size);      // GBNF grammar compile + match
void FuzzJsonSchema(const uint8_t* data, size_t size);   // JSON schema to grammar, which must compile

inline constexpr Target kTargets[] = {
    {"qlm", FuzzQlm},           {"qlm_session", FuzzQlmSession}, {"qla", FuzzQla},
    {"gguf", FuzzGguf},         {"safetensors", FuzzSafetensors}, {"llama2c", FuzzLlama2c},
    {"tokenizer", FuzzTokenizer}, {"cli_args", FuzzCliArgs}, {"chat_template", FuzzChatTemplate},
    {"grammar", FuzzGrammar},   {"json_schema", FuzzJsonSchema},
};

// A per-process scratch file or folder (tmpfs when there is one); importers take paths.
std::string ScratchPath(const std::string& name);
void WriteFile(const std::string& path, const uint8_t* data, size_t size);
// $QLITE_FUZZ_DATA/<rel> (the shared test models).
std::string DataPath(const std::string& rel);

}  // namespace qlite_fuzz
