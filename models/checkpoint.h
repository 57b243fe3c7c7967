// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors),
// readable by the Python `safetensors` package and, in a few lines, by NumPy
// (docs/CHECKPOINTS.md):
//
//   u64 little-endian N | N bytes of UTF-8 JSON header (space-padded) | data
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets into the data section) and holds "__metadata__", an
// object of string -> string.
//
// Metadata: Checkpoint::meta is a JSON object. A value that is a JSON string
// is stored as that string; any other value (number, bool, array, object,
// null) is stored as its compact JSON text, and its key is listed in the
// reserved entry "qsr.json_keys" (itself a JSON array of key names, as text),
// so that loading gives back the same JSON values. Files written by other
// tools (no "qsr.json_keys") load with every metadata value as a string.
//
// Loading is strict, like the reference implementation: the tensors must
// cover the data section exactly, in some order, without gaps, overlaps or
// trailing bytes. Supported dtypes: F32, F16, I32, I16, I8, U8 (the Tensor
// dtypes); any other (BF16, F64, I64, BOOL, ...) is refused.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"
#include "models/espcn.h"

namespace qsr {

struct Checkpoint {
  nlohmann::json meta = nlohmann::json::object();          // top-level values: any JSON
  std::vector<std::pair<std::string, Tensor>> tensors;     // in data-section order
  // The tensor called `name`, or nullptr.
  const Tensor* find(const std::string& name) const;
};

// The safetensors dtype name ("F32", "F16", "I32", "I16", "I8", "U8").
std::string safetensors_dtype_name(DType t);

// Writes atomically: to `path + ".tmp.<pid>"` in the same directory, fsync,
// then rename over `path`; on any error the temporary file is removed and a
// qsr::Error naming `path` is thrown (an existing `path` is then untouched).
// Tensor names must be non-empty, unique and not "__metadata__"; meta must be
// a JSON object (or null) without the reserved key "qsr.json_keys".
void save_safetensors(const std::string& path, const Checkpoint& ckpt);

// Reads and validates a whole file; every problem is a qsr::Error
// "<path>: <what is wrong>".
Checkpoint load_safetensors(const std::string& path);

// ESPCN checkpoints. Metadata: "format": "qsr-espcn", "format_version": "1",
// "architecture": {"scale", "channels", "features", "kernels", "activation",
// "activate_last"} (as JSON), plus `extra_meta` (which must not use those
// three keys). Tensors: the model's parameters as F32 under their names
// ("conv1.kernel" [k, k, cin, cout] HWIO, "conv1.bias" [cout], ...), then
// `extra_tensors` (e.g. optimiser state "adam.m.conv1.kernel").
void save_model(const std::string& path, Espcn& model, const nlohmann::json& extra_meta = nlohmann::json::object(),
                const std::vector<std::pair<std::string, Tensor>>& extra_tensors = {});

// Checks the format and version, builds the model from "architecture" and
// copies every parameter (which must be present, F32 and of exactly the
// model's shape). Other tensors are allowed; `raw`, when given, receives the
// whole file (metadata and all tensors).
std::unique_ptr<Espcn> load_model(const std::string& path, Checkpoint* raw = nullptr);

// The "architecture" metadata for a configuration, and back (the latter
// throws a qsr::Error naming the offending field).
nlohmann::json espcn_config_to_json(const EspcnConfig& cfg);
EspcnConfig espcn_config_from_json(const nlohmann::json& j);

}  // namespace qsr
