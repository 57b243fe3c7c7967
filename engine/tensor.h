// Tensor: a dtype, a shape and contiguous, 64-byte aligned, shared storage.
// Activations are NHWC (channels innermost); conv weights are HWIO
// (kh, kw, cin, cout), the Keras layout.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace qsr {

// Every error the library reports to a user is a qsr::Error with a one-line message.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define QSR_CHECK(cond, ...)                                  \
  do {                                                        \
    if (!(cond)) throw ::qsr::Error(::qsr::detail::format_msg(__VA_ARGS__)); \
  } while (0)

namespace detail {
std::string format_msg(const char* s);
std::string format_msg(const std::string& s);
}  // namespace detail

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

constexpr size_t kTensorAlign = 64;

class Tensor {
 public:
  Tensor() = default;
  Tensor(Shape shape, DType dtype = DType::f32);  // zero-filled

  // Uninitialised storage, for results whose every element is about to be written.
  static Tensor empty(Shape shape, DType dtype = DType::f32);

  static Tensor zeros(Shape shape, DType dtype = DType::f32) { return Tensor(std::move(shape), dtype); }
  static Tensor full(Shape shape, float v);
  static Tensor from(Shape shape, std::span<const float> values);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const;
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  template <class T> T* data() {
    check_type(dtype_of<T>::value);
    return static_cast<T*>(raw());
  }
  template <class T> const T* data() const {
    check_type(dtype_of<T>::value);
    return static_cast<const T*>(raw());
  }
  float* f32() { return data<float>(); }
  const float* f32() const { return data<float>(); }
  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }

  // A tensor sharing this storage with another shape of equal element count.
  Tensor reshape(Shape shape) const;
  // A deep copy.
  Tensor clone() const;
  // A converted copy (f32 <-> f16 and integer <-> f32 by value, saturating for integers).
  Tensor to(DType t) const;
  void fill(float v);
  void zero();
  bool same_storage(const Tensor& o) const { return storage_ == o.storage_; }

 private:
  Tensor(Shape shape, DType dtype, bool zero);
  void check_type(DType want) const;
  std::shared_ptr<uint8_t[]> storage_;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::f32;
};

// 64-byte aligned buffer for kernel workspaces (never value-initialised).
template <class T> struct AlignedBuffer {
  explicit AlignedBuffer(size_t n = 0) { resize(n); }
  void resize(size_t n);
  T* data() { return ptr.get(); }
  const T* data() const { return ptr.get(); }
  size_t size() const { return n_; }
  struct Free { void operator()(T* p) const; };
  std::unique_ptr<T, Free> ptr;
  size_t n_ = 0;
};

}  // namespace qsr
