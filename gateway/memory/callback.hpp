#pragma once
// A callable held by value, for the completion handlers of the request path: std::function's
// interface (copy, move, call, test, clear with nullptr) with room inside it for the lambdas that
// path passes (a shared_ptr to their object and a few values).
//
// libstdc++'s std::function keeps in place only trivially copyable callables of at most 16 bytes,
// so every lambda that holds a shared_ptr was an allocation of its own, freed a moment later: six
// a request on the plain path (callgrind), each through glibc's general allocator once 32
// connections interleave (its per-thread cache keeps 7 blocks of a size). A callable larger than
// the room here is allocated as std::function would.
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace sovereign::gateway {

template <class Signature>
class Callback;

template <class R, class... Args>
class Callback<R(Args...)> {
 public:
  static constexpr std::size_t inline_bytes = 48;

  Callback() noexcept = default;
  Callback(std::nullptr_t) noexcept {}
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, Callback> && std::is_invocable_r_v<R, D&, Args...>>>
  Callback(F&& f) {
    static_assert(std::is_copy_constructible_v<D>, "a Callback is copyable, as std::function is");
    if constexpr (stored_inline<D>) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      *reinterpret_cast<D**>(storage_) = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
  }
  Callback(const Callback& other) {
    if (other.ops_ != nullptr) other.ops_->copy(other.storage_, storage_);
    ops_ = other.ops_;
  }
  Callback(Callback&& other) noexcept { take(other); }
  Callback& operator=(const Callback& other) {
    if (this != &other) *this = Callback(other);
    return *this;
  }
  Callback& operator=(Callback&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  Callback& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, Callback> && std::is_invocable_r_v<R, D&, Args...>>>
  Callback& operator=(F&& f) {
    return *this = Callback(std::forward<F>(f));
  }
  ~Callback() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  friend bool operator==(const Callback& callback, std::nullptr_t) noexcept { return callback.ops_ == nullptr; }

  // As std::function's: the callable is called as it is held (a lambda's captures may change).
  // Calling an empty Callback is a programming error, as calling an empty std::function is.
  R operator()(Args... args) const { return ops_->call(storage_, std::forward<Args>(args)...); }

 private:
  struct Ops {
    R (*call)(const unsigned char* storage, Args&&... args);
    void (*copy)(const unsigned char* from, unsigned char* to);
    void (*move)(unsigned char* from, unsigned char* to) noexcept;  // leaves `from` with nothing to destroy
    void (*destroy)(unsigned char* storage) noexcept;
  };

  template <class D>
  static constexpr bool stored_inline = sizeof(D) <= inline_bytes &&
                                        alignof(D) <= alignof(std::max_align_t) &&
                                        std::is_nothrow_move_constructible_v<D>;

  template <class D>
  static D& held(const unsigned char* storage) {
    if constexpr (stored_inline<D>) return *std::launder(reinterpret_cast<D*>(const_cast<unsigned char*>(storage)));
    else return **reinterpret_cast<D* const*>(storage);
  }

  template <class D>
  static constexpr Ops inline_ops{
      [](const unsigned char* storage, Args&&... args) -> R {
        return static_cast<R>(held<D>(storage)(std::forward<Args>(args)...));
      },
      [](const unsigned char* from, unsigned char* to) { ::new (static_cast<void*>(to)) D(held<D>(from)); },
      [](unsigned char* from, unsigned char* to) noexcept {
        D& source = held<D>(from);
        ::new (static_cast<void*>(to)) D(std::move(source));
        source.~D();
      },
      [](unsigned char* storage) noexcept { held<D>(storage).~D(); },
  };

  template <class D>
  static constexpr Ops heap_ops{
      [](const unsigned char* storage, Args&&... args) -> R {
        return static_cast<R>(held<D>(storage)(std::forward<Args>(args)...));
      },
      [](const unsigned char* from, unsigned char* to) { *reinterpret_cast<D**>(to) = new D(held<D>(from)); },
      [](unsigned char* from, unsigned char* to) noexcept { *reinterpret_cast<D**>(to) = *reinterpret_cast<D**>(from); },
      [](unsigned char* storage) noexcept { delete *reinterpret_cast<D**>(storage); },
  };

  void take(Callback& other) noexcept {
    if (other.ops_ != nullptr) other.ops_->move(other.storage_, storage_);
    ops_ = std::exchange(other.ops_, nullptr);
  }
  void reset() noexcept {
    if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(storage_);
  }

  alignas(std::max_align_t) unsigned char storage_[inline_bytes];
  const Ops* ops_ = nullptr;
};

}  // namespace sovereign::gateway
