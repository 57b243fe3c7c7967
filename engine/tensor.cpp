#include "engine/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <algorithm>
#include <new>

namespace qsr {

namespace detail {
std::string format_msg(const char* s) { return s; }
std::string format_msg(const std::string& s) { return s; }
}  // namespace detail

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) {
    QSR_CHECK(d >= 0, "negative dimension in shape " + shape_str(s));
    n *= d;
  }
  return n;
}

static void* aligned_alloc_bytes(size_t bytes) {
  size_t rounded = (bytes + kTensorAlign - 1) / kTensorAlign * kTensorAlign;
  if (rounded == 0) rounded = kTensorAlign;
  void* p = std::aligned_alloc(kTensorAlign, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

namespace {
// Large tensor blocks are kept after release and handed out again for the
// same size: a training step or an inference allocates the same activation
// sizes every time, and fresh large blocks from the system page-fault on
// first touch (which would cost more than some layers). Bounded in total.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 18;
  static constexpr size_t kMaxCached = size_t(1) << 30;
  void* get(size_t bytes) {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_ -= bytes;
        return p;
      }
    }
    return aligned_alloc_bytes(bytes);
  }
  void put(void* p, size_t bytes) {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + bytes <= kMaxCached) {
        free_.emplace(bytes, p);
        cached_ += bytes;
        return;
      }
    }
    std::free(p);
  }
 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};
BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: tensors may outlive static destruction
  return *c;
}
}  // namespace

Tensor::Tensor(Shape shape, DType dtype) : Tensor(std::move(shape), dtype, true) {}

Tensor Tensor::empty(Shape shape, DType dtype) { return Tensor(std::move(shape), dtype, false); }

Tensor::Tensor(Shape shape, DType dtype, bool zero) : shape_(std::move(shape)), dtype_(dtype) {
  numel_ = shape_numel(shape_);
  size_t bytes = (std::max<size_t>(nbytes(), 1) + kTensorAlign - 1) / kTensorAlign * kTensorAlign;
  auto* p = static_cast<uint8_t*>(block_cache().get(bytes));
  if (zero) std::memset(p, 0, bytes);
  storage_ = std::shared_ptr<uint8_t[]>(p, [bytes](uint8_t* q) { block_cache().put(q, bytes); });
}

Tensor Tensor::full(Shape shape, float v) {
  Tensor t(std::move(shape));
  t.fill(v);
  return t;
}

Tensor Tensor::from(Shape shape, std::span<const float> values) {
  Tensor t(std::move(shape));
  QSR_CHECK(static_cast<int64_t>(values.size()) == t.numel(),
            "Tensor::from: " + std::to_string(values.size()) + " values for shape " + shape_str(t.shape()));
  std::memcpy(t.f32(), values.data(), values.size() * sizeof(float));
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  if (i < 0) i += n;
  QSR_CHECK(i >= 0 && i < n, "dimension index out of range for shape " + shape_str(shape_));
  return shape_[i];
}

void Tensor::check_type(DType want) const {
  QSR_CHECK(defined(), "use of an undefined tensor");
  QSR_CHECK(want == dtype_, "tensor holds " + std::string(dtype_name(dtype_)) + ", accessed as " +
                                std::string(dtype_name(want)));
}

Tensor Tensor::reshape(Shape shape) const {
  QSR_CHECK(shape_numel(shape) == numel_, "cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape_, dtype_);
  if (numel_) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

namespace {
template <class T> T saturate(float v) {
  if (std::isnan(v)) return 0;
  // Compare in double: float(INT32_MAX) rounds up to 2^31, which would let 2^31 through.
  double r = std::nearbyint(double(v));
  if (r < double(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (r > double(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(r);
}

float load_as_f32(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::f32: return t.data<float>()[i];
    case DType::f16: return f16_to_f32(t.data<half_bits>()[i].bits);
    case DType::i8: return t.data<int8_t>()[i];
    case DType::u8: return t.data<uint8_t>()[i];
    case DType::i16: return t.data<int16_t>()[i];
    case DType::i32: return static_cast<float>(t.data<int32_t>()[i]);
  }
  return 0;
}

void store_from_f32(Tensor& t, int64_t i, float v) {
  switch (t.dtype()) {
    case DType::f32: t.data<float>()[i] = v; break;
    case DType::f16: t.data<half_bits>()[i].bits = f32_to_f16(v); break;
    case DType::i8: t.data<int8_t>()[i] = saturate<int8_t>(v); break;
    case DType::u8: t.data<uint8_t>()[i] = saturate<uint8_t>(v); break;
    case DType::i16: t.data<int16_t>()[i] = saturate<int16_t>(v); break;
    case DType::i32: t.data<int32_t>()[i] = saturate<int32_t>(v); break;
  }
}
}  // namespace

Tensor Tensor::to(DType t) const {
  if (t == dtype_) return clone();
  Tensor r(shape_, t);
  for (int64_t i = 0; i < numel_; ++i) store_from_f32(r, i, load_as_f32(*this, i));
  return r;
}

void Tensor::fill(float v) {
  for (int64_t i = 0; i < numel_; ++i) store_from_f32(*this, i, v);
}

void Tensor::zero() {
  if (numel_) std::memset(raw(), 0, nbytes());
}

template <class T> void AlignedBuffer<T>::resize(size_t n) {
  if (n == n_ && ptr) return;
  ptr.reset(n ? static_cast<T*>(aligned_alloc_bytes(n * sizeof(T))) : nullptr);
  n_ = n;
}
template <class T> void AlignedBuffer<T>::Free::operator()(T* p) const { std::free(p); }
template struct AlignedBuffer<float>;
template struct AlignedBuffer<int8_t>;
template struct AlignedBuffer<int16_t>;
template struct AlignedBuffer<int32_t>;
template struct AlignedBuffer<uint8_t>;

// IEEE binary16 conversions, round to nearest even.
uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return static_cast<uint16_t>(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (ax < 0x38800000u) {  // result is subnormal or zero
    if (ax < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to 0
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // shift so that the result is in units of 2^-24
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t e = (ax >> 23) - 112;
  uint32_t m = ax & 0x7fffffu;
  uint32_t q = (e << 10) | (m >> 13);
  uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1))) ++q;  // may carry into exponent: correct
  return static_cast<uint16_t>(sign | q);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1f;
  uint32_t m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    if (m == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int s = 0;
      while (!(m & 0x400u)) { m <<= 1; ++s; }
      m &= 0x3ffu;
      x = sign | ((113u - s) << 23) | (m << 13);
    }
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112u) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace qsr
