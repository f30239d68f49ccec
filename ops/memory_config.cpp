#include "ops/memory_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

std::string_view trim(std::string_view text) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// Trims whitespace and any surrounding quote characters ('...' or "...").
std::string_view unquote(std::string_view text) {
  text = trim(text);
  while (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') &&
         text.back() == text.front()) {
    text = trim(text.substr(1, text.size() - 2));
  }
  return text;
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// "TensorMemoryLayout::HEIGHT_SHARDED", "ttnn.BufferType.L1", "'ROW_MAJOR'" -> bare upper name.
std::string enum_token(std::string_view text) {
  text = trim(text);
  while (!text.empty() && (text.front() == '\'' || text.front() == '"')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == '\'' || text.back() == '"')) text.remove_suffix(1);
  if (const auto pos = text.rfind("::"); pos != std::string_view::npos) {
    text = text.substr(pos + 2);
  } else if (const auto dot = text.rfind('.'); dot != std::string_view::npos) {
    text = text.substr(dot + 1);
  }
  return upper(trim(text));
}

bool is_open(char c) { return c == '(' || c == '[' || c == '{'; }
bool is_close(char c) { return c == ')' || c == ']' || c == '}'; }

// Index of the bracket closing the one at `open`, skipping quoted text; npos if unbalanced.
std::size_t matching_close(std::string_view text, std::size_t open) {
  int depth = 0;
  char quote = 0;
  for (std::size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"') {
      quote = c;
    } else if (is_open(c)) {
      ++depth;
    } else if (is_close(c)) {
      if (--depth == 0) return i;
    }
  }
  return std::string_view::npos;
}

// The text between "<name>(" and its closing ')'; nullopt if `name(` does not occur.
std::optional<std::string_view> call_body(std::string_view text, std::string_view name,
                                          std::string_view what) {
  const std::string needle = std::string(name) + "(";
  const auto pos = text.find(needle);
  if (pos == std::string_view::npos) return std::nullopt;
  const std::size_t open = pos + needle.size() - 1;
  const std::size_t close = matching_close(text, open);
  if (close == std::string_view::npos) {
    throw Error(std::string(what) + " string '" + std::string(text) + "' has an unclosed '" +
                needle + "'; pass the whole string as tt-metal printed it");
  }
  return text.substr(open + 1, close - open - 1);
}

struct Field {
  std::string_view key;
  std::string_view value;
};

// Splits "k1=v1,k2=v2" (',' or ';' separators) at the top bracket level. Items without '='
// are skipped: they are continuation text of a value we do not read.
std::vector<Field> split_fields(std::string_view body) {
  std::vector<Field> fields;
  int depth = 0;
  char quote = 0;
  std::size_t begin = 0;
  const auto flush = [&](std::size_t end) {
    const std::string_view item = trim(body.substr(begin, end - begin));
    const auto eq = item.find('=');
    if (eq != std::string_view::npos)
      fields.push_back({trim(item.substr(0, eq)), trim(item.substr(eq + 1))});
    begin = end + 1;
  };
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"') {
      quote = c;
    } else if (is_open(c)) {
      ++depth;
    } else if (is_close(c)) {
      --depth;
    } else if ((c == ',' || c == ';') && depth == 0) {
      flush(i);
    }
  }
  flush(body.size());
  return fields;
}

bool is_nullopt(std::string_view value) {
  const std::string token = upper(unquote(value));
  return token.empty() || token == "STD::NULLOPT" || token == "NULLOPT" || token == "NONE" ||
         token == "NULL";
}

// Every unsigned integer in `text`, in order ("{24576; 8}" -> 24576, 8).
std::vector<std::uint64_t> integers_in(std::string_view text) {
  std::vector<std::uint64_t> values;
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) {
      ++i;
      continue;
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
    if (ec != std::errc()) throw Error("number too large in '" + std::string(text) + "'");
    values.push_back(value);
    i = static_cast<std::size_t>(end - text.data());
  }
  return values;
}

std::uint32_t to_u32(std::uint64_t value, std::string_view field) {
  if (value > 0xFFFFFFFFull) {
    throw Error(std::string(field) + " value " + std::to_string(value) + " does not fit 32 bits");
  }
  return static_cast<std::uint32_t>(value);
}

// Finds "<letter>=N" or "<letter>":N (JSON) at or after `from`; returns N and the index after it.
std::optional<std::pair<std::uint32_t, std::size_t>> coordinate_after(std::string_view text,
                                                                      char letter,
                                                                      std::size_t from) {
  for (std::size_t j = from; j < text.size(); ++j) {
    if (text[j] != letter) continue;
    if (j > 0 &&
        (std::isalnum(static_cast<unsigned char>(text[j - 1])) != 0 || text[j - 1] == '_')) {
      continue;
    }
    std::size_t k = j + 1;
    while (k < text.size() && (text[k] == '"' || text[k] == ' ')) ++k;
    if (k >= text.size() || (text[k] != '=' && text[k] != ':')) continue;
    ++k;
    while (k < text.size() && text[k] == ' ') ++k;
    std::uint32_t value = 0;
    const auto [end, ec] = std::from_chars(text.data() + k, text.data() + text.size(), value);
    if (ec != std::errc()) continue;
    return std::make_pair(value, static_cast<std::size_t>(end - text.data()));
  }
  return std::nullopt;
}

// Reads "{[(x=0,y=0) - (x=4,y=3)], ...}" in any separator variant, or a JSON list of
// {"start":{"x":..,"y":..},"end":{...}} objects: coordinates are taken pairwise as start/end.
CoreRangeSet parse_grid(std::string_view text) {
  std::vector<CoreCoord> coords;
  std::size_t pos = 0;
  while (auto x = coordinate_after(text, 'x', pos)) {
    const auto y = coordinate_after(text, 'y', x->second);
    if (!y) throw Error("shard grid '" + std::string(text) + "' has an x without a y coordinate");
    coords.push_back({x->first, y->first});
    pos = y->second;
  }
  if (coords.empty() || coords.size() % 2 != 0) {
    throw Error("shard grid '" + std::string(text) +
                "' is not a list of [(x=..,y=..) - (x=..,y=..)] core ranges");
  }
  std::vector<CoreRange> ranges;
  for (std::size_t i = 0; i < coords.size(); i += 2) ranges.emplace_back(coords[i], coords[i + 1]);
  return CoreRangeSet(std::move(ranges));
}

std::array<std::uint32_t, 2> parse_pair(std::string_view text, std::string_view field) {
  const auto values = integers_in(text);
  if (values.size() != 2) {
    throw Error(std::string(field) + " '" + std::string(text) +
                "' must hold two numbers {height, width}");
  }
  return {to_u32(values[0], field), to_u32(values[1], field)};
}

ShardSpec parse_shard_spec(std::string_view body) {
  ShardSpec spec;
  bool have_grid = false;
  bool have_shape = false;
  for (const Field& field : split_fields(body)) {
    const std::string key(field.key);
    if (key == "grid" || key == "shard_grid") {
      spec.grid = parse_grid(field.value);
      have_grid = true;
    } else if (key == "shape" || key == "shard_shape") {
      spec.shape = parse_pair(field.value, "shard shape");
      have_shape = true;
    } else if (key == "orientation" || key == "shard_orientation") {
      const auto orientation = parse_shard_orientation(field.value);
      if (!orientation) {
        throw Error("shard orientation '" + std::string(field.value) +
                    "' is not ROW_MAJOR or COL_MAJOR");
      }
      spec.orientation = *orientation;
    } else if (key == "mode") {
      const auto mode = parse_shard_mode(field.value);
      if (!mode)
        throw Error("shard mode '" + std::string(field.value) + "' is not PHYSICAL or LOGICAL");
      spec.mode = *mode;
    } else if (key == "physical_shard_shape") {
      if (!is_nullopt(field.value)) {
        spec.physical_shard_shape = parse_pair(field.value, "physical_shard_shape");
      }
    }
    // halo=... (2023 strings) and unknown newer fields do not affect placement.
  }
  if (!have_grid) throw Error("ShardSpec '" + std::string(body) + "' has no grid= field");
  if (!have_shape) throw Error("ShardSpec '" + std::string(body) + "' has no shape= field");
  return spec;
}

// Value text after `"key"` in a JSON-like object (up to the next top-level separator).
std::optional<std::string_view> json_value(std::string_view object, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\"";
  const auto pos = object.find(needle);
  if (pos == std::string_view::npos) return std::nullopt;
  std::size_t i = object.find(':', pos + needle.size());
  if (i == std::string_view::npos) return std::nullopt;
  ++i;
  while (i < object.size() && object[i] == ' ') ++i;
  if (i < object.size() && is_open(object[i])) {
    const std::size_t close = matching_close(object, i);
    if (close == std::string_view::npos) return std::nullopt;
    return object.substr(i, close - i + 1);
  }
  std::size_t end = i;
  bool in_quote = false;
  while (end < object.size()) {
    const char c = object[end];
    if (c == '"') in_quote = !in_quote;
    if (!in_quote && (c == ',' || c == ';' || c == '}')) break;
    ++end;
  }
  return object.substr(i, end - i);
}

// If every range of `set` together covers its bounding box exactly, that box; else `set`.
CoreRangeSet merge_if_rectangle(const CoreRangeSet& set) {
  const CoreRange box = set.bounding_box();
  return set.num_cores() == box.num_cores() ? CoreRangeSet(box) : set;
}

// Newer tt-metal may print only an ND shard spec as JSON; fold its N-D shard shape to the
// 2-D [prod(outer dims), last dim] TT-NN uses for legacy sharding.
std::optional<ShardSpec> shard_spec_from_nd_json(std::string_view json, TensorMemoryLayout layout) {
  const auto shape_text = json_value(json, "shard_shape");
  const auto grid_text = json_value(json, "grid");
  if (!shape_text || !grid_text) return std::nullopt;
  const auto dims = integers_in(*shape_text);
  if (dims.empty()) return std::nullopt;
  std::uint64_t height = 1;
  for (std::size_t i = 0; i + 1 < dims.size(); ++i) height *= dims[i];
  ShardSpec spec;
  spec.shape = {to_u32(height, "nd shard height"), to_u32(dims.back(), "nd shard width")};
  spec.grid = parse_grid(*grid_text);
  if (layout == TensorMemoryLayout::BlockSharded) spec.grid = merge_if_rectangle(spec.grid);
  if (const auto orientation_text = json_value(json, "orientation")) {
    if (const auto orientation = parse_shard_orientation(*orientation_text)) {
      spec.orientation = *orientation;
    }
  }
  return spec;
}

std::string pair_to_string(const std::array<std::uint32_t, 2>& pair) {
  return "{" + std::to_string(pair[0]) + ", " + std::to_string(pair[1]) + "}";
}

}  // namespace

std::string_view to_string(BufferType type) {
  switch (type) {
    case BufferType::DRAM:
      return "DRAM";
    case BufferType::L1:
      return "L1";
  }
  return "UNKNOWN";
}

std::string_view to_string(TensorMemoryLayout layout) {
  switch (layout) {
    case TensorMemoryLayout::Interleaved:
      return "INTERLEAVED";
    case TensorMemoryLayout::HeightSharded:
      return "HEIGHT_SHARDED";
    case TensorMemoryLayout::WidthSharded:
      return "WIDTH_SHARDED";
    case TensorMemoryLayout::BlockSharded:
      return "BLOCK_SHARDED";
  }
  return "UNKNOWN";
}

std::string_view to_string(ShardOrientation orientation) {
  switch (orientation) {
    case ShardOrientation::RowMajor:
      return "ROW_MAJOR";
    case ShardOrientation::ColMajor:
      return "COL_MAJOR";
  }
  return "UNKNOWN";
}

std::string_view to_string(ShardMode mode) {
  switch (mode) {
    case ShardMode::Physical:
      return "PHYSICAL";
    case ShardMode::Logical:
      return "LOGICAL";
  }
  return "UNKNOWN";
}

std::optional<BufferType> parse_buffer_type(std::string_view text) {
  const std::string token = enum_token(text);
  if (token == "DRAM") return BufferType::DRAM;
  if (token == "L1") return BufferType::L1;
  return std::nullopt;
}

std::optional<TensorMemoryLayout> parse_tensor_memory_layout(std::string_view text) {
  const std::string token = enum_token(text);
  if (token == "INTERLEAVED") return TensorMemoryLayout::Interleaved;
  if (token == "HEIGHT_SHARDED") return TensorMemoryLayout::HeightSharded;
  if (token == "WIDTH_SHARDED") return TensorMemoryLayout::WidthSharded;
  if (token == "BLOCK_SHARDED") return TensorMemoryLayout::BlockSharded;
  return std::nullopt;
}

std::optional<ShardOrientation> parse_shard_orientation(std::string_view text) {
  const std::string token = enum_token(text);
  if (token == "ROW_MAJOR") return ShardOrientation::RowMajor;
  if (token == "COL_MAJOR") return ShardOrientation::ColMajor;
  return std::nullopt;
}

std::optional<ShardMode> parse_shard_mode(std::string_view text) {
  const std::string token = enum_token(text);
  if (token == "PHYSICAL") return ShardMode::Physical;
  if (token == "LOGICAL") return ShardMode::Logical;
  return std::nullopt;
}

// ---- cores ----

CoreRange::CoreRange(CoreCoord start, CoreCoord end) : start_(start), end_(end) {
  if (start.x > end.x || start.y > end.y) {
    throw Error("core range " + to_string(start) + " - " + to_string(end) +
                " is inverted: start must not exceed end in x or y; swap the corners");
  }
}

bool CoreRange::contains(CoreCoord core) const {
  return core.x >= start_.x && core.x <= end_.x && core.y >= start_.y && core.y <= end_.y;
}

bool CoreRange::overlaps(const CoreRange& other) const {
  return start_.x <= other.end_.x && other.start_.x <= end_.x && start_.y <= other.end_.y &&
         other.start_.y <= end_.y;
}

CoreRangeSet::CoreRangeSet(CoreRange range) : ranges_{range} {}

CoreRangeSet::CoreRangeSet(std::vector<CoreRange> ranges) : ranges_(std::move(ranges)) {
  for (std::size_t i = 0; i < ranges_.size(); ++i) {
    for (std::size_t j = i + 1; j < ranges_.size(); ++j) {
      if (ranges_[i].overlaps(ranges_[j])) {
        throw Error("core range set " + to_string(*this) + ": ranges " + to_string(ranges_[i]) +
                    " and " + to_string(ranges_[j]) +
                    " overlap; each core may appear only once in a shard grid");
      }
    }
  }
}

std::uint32_t CoreRangeSet::num_cores() const {
  std::uint32_t total = 0;
  for (const CoreRange& range : ranges_) total += range.num_cores();
  return total;
}

bool CoreRangeSet::contains(CoreCoord core) const {
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [core](const CoreRange& range) { return range.contains(core); });
}

CoreRange CoreRangeSet::bounding_box() const {
  if (ranges_.empty()) throw Error("an empty core range set has no bounding box");
  CoreCoord low = ranges_.front().start();
  CoreCoord high = ranges_.front().end();
  for (const CoreRange& range : ranges_) {
    low = {std::min(low.x, range.start().x), std::min(low.y, range.start().y)};
    high = {std::max(high.x, range.end().x), std::max(high.y, range.end().y)};
  }
  return CoreRange(low, high);
}

std::vector<CoreCoord> CoreRangeSet::cores(ShardOrientation orientation) const {
  std::vector<CoreCoord> out;
  out.reserve(num_cores());
  for (const CoreRange& range : ranges_) {
    if (orientation == ShardOrientation::RowMajor) {
      for (std::uint32_t y = range.start().y; y <= range.end().y; ++y) {
        for (std::uint32_t x = range.start().x; x <= range.end().x; ++x) out.push_back({x, y});
      }
    } else {
      for (std::uint32_t x = range.start().x; x <= range.end().x; ++x) {
        for (std::uint32_t y = range.start().y; y <= range.end().y; ++y) out.push_back({x, y});
      }
    }
  }
  return out;
}

CoreRangeSet num_cores_to_core_range_set(std::uint32_t num_cores, std::uint32_t grid_x,
                                         std::uint32_t grid_y, bool row_wise) {
  if (num_cores == 0 || num_cores > grid_x * grid_y) {
    throw Error("cannot pick " + std::to_string(num_cores) + " cores from a " +
                std::to_string(grid_x) + "x" + std::to_string(grid_y) + " grid; use 1.." +
                std::to_string(grid_x * grid_y) + " cores");
  }
  // Whole lines along the fast axis first, then the remainder as one partial line.
  const std::uint32_t line = row_wise ? grid_x : grid_y;
  const std::uint32_t full_lines = num_cores / line;
  const std::uint32_t rest = num_cores % line;
  std::vector<CoreRange> ranges;
  if (row_wise) {
    if (full_lines > 0) ranges.emplace_back(CoreCoord{0, 0}, CoreCoord{grid_x - 1, full_lines - 1});
    if (rest > 0) ranges.emplace_back(CoreCoord{0, full_lines}, CoreCoord{rest - 1, full_lines});
  } else {
    if (full_lines > 0) ranges.emplace_back(CoreCoord{0, 0}, CoreCoord{full_lines - 1, grid_y - 1});
    if (rest > 0) ranges.emplace_back(CoreCoord{full_lines, 0}, CoreCoord{full_lines, rest - 1});
  }
  return CoreRangeSet(std::move(ranges));
}

std::string to_string(CoreCoord core) {
  return "(x=" + std::to_string(core.x) + ",y=" + std::to_string(core.y) + ")";
}

std::string to_string(const CoreRange& range) {
  return "[" + to_string(range.start()) + " - " + to_string(range.end()) + "]";
}

std::string to_string(const CoreRangeSet& set) {
  std::string out = "{";
  for (std::size_t i = 0; i < set.ranges().size(); ++i) {
    if (i > 0) out += ", ";
    out += to_string(set.ranges()[i]);
  }
  return out + "}";
}

// ---- memory config ----

MemoryConfig::MemoryConfig(TensorMemoryLayout layout, BufferType buffer_type,
                           std::optional<ShardSpec> shard_spec)
    : layout_(layout), buffer_type_(buffer_type), shard_spec_(std::move(shard_spec)) {
  const std::string name = std::string(to_string(buffer_type_)) + " " +
                           std::string(to_string(layout_)) + " memory config";
  if (!is_sharded() && shard_spec_) {
    throw Error(name +
                " has a ShardSpec, but interleaved tensors are not sharded; drop the "
                "shard spec or use HEIGHT_SHARDED / WIDTH_SHARDED / BLOCK_SHARDED");
  }
  if (!is_sharded()) return;
  if (!shard_spec_) {
    throw Error(name +
                " has no ShardSpec; sharded layouts need a shard spec (grid, shard "
                "shape, orientation), or use INTERLEAVED");
  }
  const ShardSpec& spec = *shard_spec_;
  if (spec.grid.empty()) throw Error(name + ": the shard grid is empty; give at least one core");
  if (spec.height() == 0 || spec.width() == 0) {
    throw Error(name + ": shard shape " + pair_to_string(spec.shape) +
                " has a zero dimension; shards need at least one row and column");
  }
  if (layout_ == TensorMemoryLayout::BlockSharded && spec.grid.ranges().size() != 1) {
    throw Error(name + ": BLOCK_SHARDED needs the shard grid to be one rectangle, but " +
                to_string(spec.grid) + " has " + std::to_string(spec.grid.ranges().size()) +
                " ranges; use a single CoreRange such as " + to_string(spec.grid.bounding_box()));
  }
  // TT-NN's DRAM sharding exists for DRAM-sharded matmul weights: columns spread over the DRAM
  // banks. wormsim models that one case.
  if (is_dram() && layout_ != TensorMemoryLayout::WidthSharded) {
    throw Error(name +
                ": DRAM sharding is supported only as WIDTH_SHARDED over DRAM banks "
                "(TT-NN's DRAM-sharded weights); use DRAM INTERLEAVED or shard in L1");
  }
}

std::string to_string(const ShardSpec& spec) {
  return "ShardSpec(grid=" + to_string(spec.grid) + ",shape=" + pair_to_string(spec.shape) +
         ",orientation=ShardOrientation::" + std::string(to_string(spec.orientation)) +
         ",mode=ShardMode::" + std::string(to_string(spec.mode)) + ",physical_shard_shape=" +
         (spec.physical_shard_shape ? pair_to_string(*spec.physical_shard_shape)
                                    : std::string("std::nullopt")) +
         ")";
}

std::string to_string(const MemoryConfig& config) {
  return "MemoryConfig(memory_layout=TensorMemoryLayout::" +
         std::string(to_string(config.layout())) +
         ",buffer_type=BufferType::" + std::string(to_string(config.buffer_type())) +
         ",shard_spec=" +
         (config.shard_spec() ? to_string(*config.shard_spec()) : std::string("std::nullopt")) +
         ",nd_shard_spec=std::nullopt,created_with_nd_shard_spec=0)";
}

std::string to_csv_attribute_string(const MemoryConfig& config) {
  std::string text = to_string(config);
  std::replace(text.begin(), text.end(), ',', ';');
  return text;
}

MemoryConfig parse_memory_config_string(std::string_view text) {
  const std::string_view cleaned = unquote(text);
  const auto body = call_body(cleaned, "MemoryConfig", "memory config");
  if (!body) {
    throw Error("memory config string '" + std::string(text) +
                "' does not contain 'MemoryConfig(...)'; expected TT-NN's printed form");
  }
  std::optional<TensorMemoryLayout> layout;
  std::optional<BufferType> buffer_type;
  std::optional<ShardSpec> shard_spec;
  std::optional<std::string_view> nd_json;
  for (const Field& field : split_fields(*body)) {
    const std::string key(field.key);
    if (key == "memory_layout") {
      layout = parse_tensor_memory_layout(field.value);
      if (!layout) {
        throw Error("memory config '" + std::string(text) + "': memory_layout '" +
                    std::string(field.value) +
                    "' is not modelled; wormsim handles INTERLEAVED, HEIGHT_SHARDED, "
                    "WIDTH_SHARDED and BLOCK_SHARDED");
      }
    } else if (key == "buffer_type") {
      buffer_type = parse_buffer_type(field.value);
      if (!buffer_type) {
        throw Error("memory config '" + std::string(text) + "': buffer_type '" +
                    std::string(field.value) + "' is not modelled; wormsim handles DRAM and L1");
      }
    } else if (key == "shard_spec") {
      if (is_nullopt(field.value)) continue;
      const auto inner = call_body(field.value, "ShardSpec", "shard spec");
      if (!inner) {
        throw Error("memory config '" + std::string(text) + "': shard_spec '" +
                    std::string(field.value) + "' is neither std::nullopt nor ShardSpec(...)");
      }
      shard_spec = parse_shard_spec(*inner);
    } else if (key == "nd_shard_spec") {
      if (!is_nullopt(field.value)) nd_json = field.value;
    }
  }
  if (!layout) throw Error("memory config '" + std::string(text) + "' has no memory_layout field");
  if (!buffer_type)
    throw Error("memory config '" + std::string(text) + "' has no buffer_type field");
  if (is_sharded(*layout) && !shard_spec && nd_json) {
    shard_spec = shard_spec_from_nd_json(*nd_json, *layout);
  }
  return MemoryConfig(*layout, *buffer_type, std::move(shard_spec));
}

std::string csv_memory_column(const MemoryConfig& config, std::uint32_t device_id) {
  return "DEV_" + std::to_string(device_id) + "_" + std::string(to_string(config.buffer_type())) +
         "_" + std::string(to_string(config.layout()));
}

MemoryColumn parse_memory_column(std::string_view text) {
  const std::string_view cell = unquote(text);
  const auto fail = [&](const std::string& why) {
    return Error("memory column '" + std::string(text) + "' " + why +
                 "; expected DEV_<device>_<DRAM|L1>_<INTERLEAVED|HEIGHT_SHARDED|WIDTH_SHARDED|"
                 "BLOCK_SHARDED>, e.g. DEV_0_DRAM_INTERLEAVED");
  };
  if (cell.substr(0, 4) != "DEV_") throw fail("does not start with DEV_");
  MemoryColumn column;
  std::string_view rest = cell.substr(4);
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), column.device_id);
  if (ec != std::errc()) throw fail("has no device id after DEV_");
  rest = rest.substr(static_cast<std::size_t>(end - rest.data()));
  if (rest.empty() || rest.front() != '_') throw fail("has no '_' after the device id");
  rest.remove_prefix(1);
  if (rest.substr(0, 5) == "DRAM_") {
    column.buffer_type = BufferType::DRAM;
    rest.remove_prefix(5);
  } else if (rest.substr(0, 3) == "L1_" && rest.substr(0, 9) != "L1_SMALL_") {
    column.buffer_type = BufferType::L1;
    rest.remove_prefix(3);
  } else {
    throw fail("has a buffer type other than DRAM or L1");
  }
  const auto layout = parse_tensor_memory_layout(rest);
  if (!layout || rest.find_first_of(".:") != std::string_view::npos) {
    throw fail("has an unknown memory layout '" + std::string(rest) + "'");
  }
  column.layout = *layout;
  return column;
}

}  // namespace wormsim::ops
