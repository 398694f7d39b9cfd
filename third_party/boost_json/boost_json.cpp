// Boost.JSON is used header-only; its implementation is compiled exactly once, here, and every
// module that parses or writes JSON links this library instead of including src.hpp itself.
#include <boost/json/src.hpp>
