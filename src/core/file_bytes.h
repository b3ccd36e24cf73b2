// Reading a whole small file (a certificate, a key, a config) into memory.
#pragma once

#include <optional>
#include <string>

namespace waygate {

// The file's bytes, or nullopt when it cannot be opened.
std::optional<std::string> read_file_bytes(const std::string& path);

}  // namespace waygate
