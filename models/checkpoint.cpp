#include "models/checkpoint.h"

#include "engine/fileio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <system_error>

namespace qsr {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so must the host be");

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kJsonKeys = "qsr.json_keys";
constexpr const char* kMetadata = "__metadata__";
// The reference implementation's limit on the header size.
constexpr uint64_t kMaxHeader = uint64_t(100) << 20;

[[noreturn]] void fail(const std::string& path, const std::string& why) { throw Error(path + ": " + why); }

// A name from a file, quoted and with control characters escaped, so that
// messages stay on one line.
std::string quote(const std::string& s) {
  std::string r = "'";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      r += buf;
    } else {
      r += static_cast<char>(c);
    }
  }
  return r + "'";
}

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypes[] = {{DType::f32, "F32"}, {DType::f16, "F16"}, {DType::i32, "I32"},
                                 {DType::i16, "I16"}, {DType::i8, "I8"},   {DType::u8, "U8"}};

bool parse_dtype(const std::string& s, DType& out) {
  for (auto& d : kDTypes)
    if (s == d.name) {
      out = d.dtype;
      return true;
    }
  return false;
}

std::string offsets_str(uint64_t b, uint64_t e) { return "[" + std::to_string(b) + ", " + std::to_string(e) + "]"; }

}  // namespace

const Tensor* Checkpoint::find(const std::string& name) const {
  for (auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

std::string safetensors_dtype_name(DType t) {
  for (auto& d : kDTypes)
    if (d.dtype == t) return d.name;
  throw Error("safetensors: no name for dtype " + std::string(dtype_name(t)));
}

// ---- save ---------------------------------------------------------------------

void save_safetensors(const std::string& path, const Checkpoint& ckpt) {
  // Everything is checked and the header built before the file is touched.
  if (!ckpt.meta.is_null() && !ckpt.meta.is_object()) fail(path, "checkpoint metadata must be a JSON object");
  json meta_out = json::object();
  json json_keys = json::array();
  if (ckpt.meta.is_object()) {
    for (auto& [k, v] : ckpt.meta.items()) {
      if (k == kJsonKeys) fail(path, std::string("metadata key '") + kJsonKeys + "' is reserved");
      if (v.is_string()) {
        meta_out[k] = v;
      } else {
        meta_out[k] = v.dump();
        json_keys.push_back(k);
      }
    }
  }
  if (!json_keys.empty()) meta_out[kJsonKeys] = json_keys.dump();

  json header = json::object();
  if (!meta_out.empty()) header[kMetadata] = meta_out;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (auto& [name, t] : ckpt.tensors) {
    if (name.empty()) fail(path, "tensor names must not be empty");
    if (name == kMetadata) fail(path, std::string("'") + kMetadata + "' cannot name a tensor");
    if (!names.insert(name).second) fail(path, "duplicate tensor name " + quote(name));
    if (!t.defined()) fail(path, "tensor " + quote(name) + " is undefined");
    const uint64_t n = t.nbytes();
    json shape = json::array();
    for (int64_t d : t.shape()) shape.push_back(d);
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception&) {
    fail(path, "a tensor name or metadata string is not valid UTF-8");
  }
  // Pad with spaces so that the data section starts 8-byte aligned, as safetensors does.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t len[8];
  const uint64_t hn = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(hn >> (8 * i));

  std::vector<ByteSpan> pieces{{len, sizeof len}, {text.data(), text.size()}};
  for (auto& [name, t] : ckpt.tensors) pieces.push_back({t.raw(), t.nbytes()});
  write_file_atomic(path, pieces);
}

// ---- load ---------------------------------------------------------------------

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path, "cannot open (is a directory)");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
  const bool err = std::ferror(f);
  std::fclose(f);
  if (err) fail(path, "read error");
  return bytes;
}

bool is_u64(const json& j) { return j.is_number_unsigned(); }

// Decodes "__metadata__" (string -> string) into JSON values.
json decode_metadata(const std::string& path, const json& m) {
  if (!m.is_object()) fail(path, "__metadata__ is not a JSON object");
  json out = json::object();
  for (auto& [k, v] : m.items()) {
    if (!v.is_string()) fail(path, "__metadata__ value " + quote(k) + " is not a string");
    out[k] = v;
  }
  if (!out.contains(kJsonKeys)) return out;
  json keys = json::parse(out[kJsonKeys].get<std::string>(), nullptr, false);
  if (keys.is_discarded() || !keys.is_array())
    fail(path, std::string("metadata '") + kJsonKeys + "' is not a JSON array of keys");
  out.erase(kJsonKeys);
  for (auto& k : keys) {
    if (!k.is_string()) fail(path, std::string("metadata '") + kJsonKeys + "' is not a JSON array of keys");
    const std::string key = k.get<std::string>();
    if (!out.contains(key))
      fail(path, std::string("metadata '") + kJsonKeys + "' names " + quote(key) + ", which is missing");
    json v = json::parse(out[key].get<std::string>(), nullptr, false);
    if (v.is_discarded()) fail(path, "metadata " + quote(key) + " is not valid JSON");
    out[key] = std::move(v);
  }
  return out;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

}  // namespace

Checkpoint load_safetensors(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  const uint64_t size = bytes.size();
  if (size < 8)
    fail(path, "too short to be a safetensors file (" + std::to_string(size) + " bytes, need at least 8)");
  uint64_t hn = 0;
  for (int i = 0; i < 8; ++i) hn |= uint64_t(bytes[i]) << (8 * i);
  if (hn > size - 8)
    fail(path, "header length " + std::to_string(hn) + " runs past the end of the file (" + std::to_string(size) +
                   " bytes); truncated or not a safetensors file");
  if (hn > kMaxHeader) fail(path, "header length " + std::to_string(hn) + " is over the 100 MiB limit");

  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(hn));
  } catch (const json::parse_error& e) {
    fail(path, "header is not valid JSON (error at byte " + std::to_string(e.byte) + " of the header)");
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  Checkpoint ck;
  std::vector<Entry> entries;
  for (auto& [name, v] : header.items()) {
    if (name == kMetadata) {
      ck.meta = decode_metadata(path, v);
      continue;
    }
    const std::string t = "tensor " + quote(name) + ": ";
    if (!v.is_object()) fail(path, t + "entry is not a JSON object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!v.contains(field)) fail(path, t + "missing '" + field + "'");
    Entry e;
    e.name = name;
    const json& jd = v["dtype"];
    if (!jd.is_string()) fail(path, t + "'dtype' is not a string");
    if (!parse_dtype(jd.get<std::string>(), e.dtype))
      fail(path, t + "unsupported dtype " + quote(jd.get<std::string>()) + " (supported: F32, F16, I32, I16, I8, U8)");
    const json& js = v["shape"];
    if (!js.is_array()) fail(path, t + "'shape' is not an array");
    uint64_t numel = 1;
    bool overflow = false;
    for (auto& d : js) {
      if (!is_u64(d) || d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        fail(path, t + "'shape' must hold non-negative integers, got " + js.dump());
      const uint64_t du = d.get<uint64_t>();
      e.shape.push_back(static_cast<int64_t>(du));
      overflow |= __builtin_mul_overflow(numel, du, &numel);
    }
    uint64_t need = 0;
    overflow |= __builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &need);
    const json& jo = v["data_offsets"];
    if (!jo.is_array() || jo.size() != 2 || !is_u64(jo[0]) || !is_u64(jo[1]) ||
        jo[0].get<uint64_t>() > jo[1].get<uint64_t>())
      fail(path, t + "'data_offsets' must be [begin, end] with 0 <= begin <= end, got " + jo.dump());
    e.begin = jo[0].get<uint64_t>();
    e.end = jo[1].get<uint64_t>();
    if (overflow || need != e.end - e.begin)
      fail(path, t + "data_offsets " + offsets_str(e.begin, e.end) + " hold " + std::to_string(e.end - e.begin) +
                     " bytes, but dtype " + jd.get<std::string>() + " and shape " + shape_str(e.shape) + " need " +
                     (overflow ? std::string("more than 2^64") : std::to_string(need)));
    entries.push_back(std::move(e));
  }

  // The tensors must tile the data section exactly, as the reference reader requires.
  const uint64_t data_size = size - 8 - hn;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.end > data_size)
      fail(path, "tensor " + quote(e.name) + ": data_offsets " + offsets_str(e.begin, e.end) +
                     " run past the end of the data (" + std::to_string(data_size) + " bytes); truncated file?");
    if (e.begin < pos)
      fail(path, "tensors " + quote(entries[i - 1].name) + " and " + quote(e.name) + " overlap (data_offsets " +
                     offsets_str(entries[i - 1].begin, entries[i - 1].end) + " and " + offsets_str(e.begin, e.end) + ")");
    if (e.begin > pos)
      fail(path, "no tensor covers data bytes " + offsets_str(pos, e.begin) + " (a gap before tensor " + quote(e.name) + ")");
    pos = e.end;
  }
  if (pos != data_size)
    fail(path, std::to_string(data_size - pos) + " trailing bytes after the last tensor's data");

  const uint8_t* data = bytes.data() + 8 + hn;
  for (auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (t.nbytes()) std::memcpy(t.raw(), data + e.begin, t.nbytes());
    ck.tensors.emplace_back(e.name, std::move(t));
  }
  return ck;
}

// ---- ESPCN --------------------------------------------------------------------

namespace {
constexpr const char* kFormat = "qsr-espcn";
constexpr const char* kFormatVersion = "1";
}  // namespace

json espcn_config_to_json(const EspcnConfig& cfg) {
  return {{"scale", cfg.scale},
          {"channels", cfg.channels},
          {"features", cfg.features},
          {"kernels", cfg.kernels},
          {"activation", activation_name(cfg.activation)},
          {"activate_last", cfg.activate_last}};
}

EspcnConfig espcn_config_from_json(const json& j) {
  const std::string where = "ESPCN architecture: ";
  if (!j.is_object()) throw Error(where + "not a JSON object");
  auto field = [&](const char* name) -> const json& {
    if (!j.contains(name)) throw Error(where + "missing '" + name + "'");
    return j[name];
  };
  auto as_int = [&](const json& v, const std::string& name) {
    if (!v.is_number_integer() || v.get<int64_t>() < std::numeric_limits<int>::min() ||
        v.get<int64_t>() > std::numeric_limits<int>::max())
      throw Error(where + "'" + name + "' must be an integer, got " + v.dump());
    return static_cast<int>(v.get<int64_t>());
  };
  auto as_ints = [&](const json& v, const std::string& name) {
    if (!v.is_array()) throw Error(where + "'" + name + "' must be an array of integers, got " + v.dump());
    std::vector<int> r;
    for (auto& x : v) r.push_back(as_int(x, name));
    return r;
  };
  EspcnConfig cfg;
  cfg.scale = as_int(field("scale"), "scale");
  cfg.channels = as_int(field("channels"), "channels");
  cfg.features = as_ints(field("features"), "features");
  cfg.kernels = as_ints(field("kernels"), "kernels");
  const json& act = field("activation");
  if (!act.is_string()) throw Error(where + "'activation' must be a string, got " + act.dump());
  cfg.activation = parse_activation(act.get<std::string>());
  const json& last = field("activate_last");
  if (!last.is_boolean()) throw Error(where + "'activate_last' must be true or false, got " + last.dump());
  cfg.activate_last = last.get<bool>();
  cfg.validate();
  return cfg;
}

void save_model(const std::string& path, Espcn& model, const json& extra_meta,
                const std::vector<std::pair<std::string, Tensor>>& extra_tensors) {
  if (!extra_meta.is_null() && !extra_meta.is_object()) fail(path, "extra metadata must be a JSON object");
  Checkpoint ck;
  if (extra_meta.is_object()) ck.meta = extra_meta;
  for (const char* k : {"format", "format_version", "architecture"})
    if (ck.meta.contains(k)) fail(path, std::string("metadata key '") + k + "' is reserved for the model");
  ck.meta["format"] = kFormat;
  ck.meta["format_version"] = kFormatVersion;
  ck.meta["architecture"] = espcn_config_to_json(model.config());
  for (auto& [name, v] : model.named_parameters()) ck.tensors.emplace_back(name, v.value());
  for (auto& p : extra_tensors) ck.tensors.push_back(p);
  save_safetensors(path, ck);
}

std::unique_ptr<Espcn> load_model(const std::string& path, Checkpoint* raw) {
  Checkpoint ck = load_safetensors(path);
  const json& m = ck.meta;
  if (!m.contains("format")) fail(path, "not a qsr ESPCN checkpoint (no 'format' metadata)");
  if (m["format"] != kFormat)
    fail(path, "not a qsr ESPCN checkpoint (format " +
                   quote(m["format"].is_string() ? m["format"].get<std::string>() : m["format"].dump()) + ")");
  if (!m.contains("format_version")) fail(path, "no 'format_version' metadata");
  const json& jv = m["format_version"];
  const std::string version = jv.is_string() ? jv.get<std::string>() : jv.dump();
  if (version != kFormatVersion)
    fail(path, "unsupported format_version " + quote(version) + " (this build reads version " + kFormatVersion + ")");
  if (!m.contains("architecture")) fail(path, "no 'architecture' metadata");
  json arch = m["architecture"];
  if (arch.is_string()) {  // a writer that stored it as text without listing it in qsr.json_keys
    json parsed = json::parse(arch.get<std::string>(), nullptr, false);
    if (!parsed.is_discarded()) arch = std::move(parsed);
  }
  EspcnConfig cfg;
  std::unique_ptr<Espcn> model;
  try {
    cfg = espcn_config_from_json(arch);
    model = std::make_unique<Espcn>(cfg);
  } catch (const Error& e) {
    fail(path, e.what());
  }
  for (auto& [name, v] : model->named_parameters()) {
    const Tensor* t = ck.find(name);
    if (!t) fail(path, "missing tensor " + quote(name));
    if (t->dtype() != DType::f32)
      fail(path, "tensor " + quote(name) + " has dtype " + safetensors_dtype_name(t->dtype()) + ", expected F32");
    Tensor& dst = v.value();
    if (t->shape() != dst.shape())
      fail(path, "tensor " + quote(name) + " has shape " + shape_str(t->shape()) + ", expected " + shape_str(dst.shape()));
    if (dst.nbytes()) std::memcpy(dst.raw(), t->raw(), dst.nbytes());
  }
  if (raw) *raw = std::move(ck);
  return model;
}

}  // namespace qsr
