#pragma once
// SharedSeries: metric series that belong to one part of the configuration (a backend, a replica),
// handed out as a shared bundle to every configuration snapshot that has that part and removed from
// the registry when the last of them is gone. A reload that drops a backend thus drops its series
// from /metrics, rather than leaving them at their last values for good, while a backend the reload
// keeps keeps the same series, values and all. Removal waits for the last holder because requests
// still running on the old snapshot count into its series.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace sovereign::gateway {

template <class Bundle>
class SharedSeries {
 public:
  // The bundle for `key`: the live one, or one made now by `make` (whose series Add() finds again
  // where a bundle on its way out still has them). `remove` takes its series out of the registry
  // once the last holder lets go, unless a newer bundle for the key has taken them over.
  std::shared_ptr<const Bundle> get(const std::string& key, const std::function<Bundle()>& make,
                                    std::function<void(const Bundle&)> remove) {
    std::lock_guard lock(mutex_);
    Entry& entry = live_[key];
    if (std::shared_ptr<const Bundle> existing = entry.bundle.lock()) return existing;
    auto* made = new Bundle(make());
    entry.latest = made;
    std::shared_ptr<const Bundle> bundle(made, [this, key, remove = std::move(remove)](const Bundle* gone) {
      {
        std::lock_guard lock(mutex_);
        auto found = live_.find(key);
        if (found != live_.end() && found->second.latest == gone) {
          remove(*gone);
          live_.erase(found);
        }
      }
      delete gone;
    });
    entry.bundle = bundle;
    return bundle;
  }

 private:
  struct Entry {
    std::weak_ptr<const Bundle> bundle;
    const Bundle* latest = nullptr;  // whose removal takes the series out; an older one's does not
  };
  std::mutex mutex_;
  std::map<std::string, Entry> live_;
};

}  // namespace sovereign::gateway
