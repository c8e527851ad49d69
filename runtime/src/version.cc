#include "qlite/qlite.h"

extern "C" uint32_t qlite_api_version(void) { return QLITE_API_VERSION; }
extern "C" const char* qlite_version_string(void) { return "qlite " QLITE_VERSION_STRING; }
