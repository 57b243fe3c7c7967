// Atomic file writes: every file qsr writes (checkpoints, images, logs,
// reports) goes through here, so an interrupted run never leaves a partial file.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace qsr {

struct ByteSpan {
  const void* data;
  size_t size;
};

// Writes the pieces, in order, to `path + ".tmp.<pid>"` in the same folder,
// fsyncs and renames it over `path` (then fsyncs the folder, best effort).
// On any failure the temporary file is removed, an existing `path` is left
// untouched, and a qsr::Error "<path>: cannot write (<step>: <reason>)" is thrown.
void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& pieces);
void write_file_atomic(const std::string& path, std::string_view text);

}  // namespace qsr
