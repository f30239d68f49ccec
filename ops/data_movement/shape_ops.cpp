// reshape, permute, transpose, concat, slice, pad, fold, and conv DRAM slicing's padded_slice and
// slice_write.
#include <algorithm>
#include <limits>
#include <map>

#include "ops/data_movement/data_movement.hpp"

namespace wormsim::ops {
namespace {

using dm::Coord4;
using dm::Source;

std::string int_list(const std::vector<std::int64_t>& values) {
  std::string s = "[";
  for (std::size_t i = 0; i < values.size(); ++i) s += (i ? "; " : "") + std::to_string(values[i]);
  return s + "]";
}

// A dim index (negatives count from the end) as a position in the rank-4 W Z Y X view.
std::uint32_t dim4(std::int64_t dim, std::size_t rank, const std::string& op,
                   const std::string& what) {
  const auto r = static_cast<std::int64_t>(rank);
  if (dim < -r || dim >= r) {
    throw Error(op + ": " + what + " " + std::to_string(dim) + " is out of range for a rank-" +
                std::to_string(rank) + " tensor; use " + std::to_string(-r) + " .. " +
                std::to_string(r - 1));
  }
  return static_cast<std::uint32_t>((dim < 0 ? dim + r : dim) + (4 - r));
}

// The rank-`rank` shape whose W Z Y X view is `d`.
Shape shape_of(const Coord4& d, std::size_t rank) {
  return Shape(std::vector<std::uint32_t>(d.end() - static_cast<std::ptrdiff_t>(rank), d.end()));
}

void expect_inputs(const std::vector<TensorSpec>& inputs, std::size_t count,
                   const std::string& op) {
  if (inputs.size() != count) {
    throw Error(op + " takes " + std::to_string(count) + " input(s), got " +
                std::to_string(inputs.size()));
  }
}

TensorSpec unplaced(const Coord4& dims, std::size_t rank, const TensorSpec& like) {
  return TensorSpec(shape_of(dims, rank), like.data_type(), like.layout());
}

std::uint64_t flat(const Coord4& d, const Coord4& at) {
  return ((static_cast<std::uint64_t>(at[0]) * d[1] + at[1]) * d[2] + at[2]) * d[3] + at[3];
}

Coord4 unflat(const Coord4& d, std::uint64_t index) {
  Coord4 at{};
  for (int i = 3; i >= 0; --i) {
    at[static_cast<std::size_t>(i)] =
        static_cast<std::uint32_t>(index % d[static_cast<std::size_t>(i)]);
    index /= d[static_cast<std::size_t>(i)];
  }
  return at;
}

// Logical element f (row-major) of the output is logical element f of the input.
class ReshapeMap : public dm::ElementMap {
 public:
  ReshapeMap(const Shape& in_logical, const Shape& out_logical)
      : in_(in_logical.wzyx()), out_(out_logical.wzyx()), out_shape_(out_logical) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_shape_, at)) return Source::filled(0.0f);
    return Source::from(0, unflat(in_, flat(out_, at)));
  }

  const Shape* filled_outside(std::size_t) const override { return &out_shape_; }

  std::string cache_key() const override {
    return "reshape " + dm::coord_text(in_) + dm::coord_text(out_) + to_string(out_shape_);
  }

 private:
  Coord4 in_;
  Coord4 out_;
  Shape out_shape_;
};

// A view: the padded buffer is reinterpreted unchanged (padding included).
class ViewMap : public dm::ElementMap {
 public:
  ViewMap(const Shape& in_padded, const Shape& out_padded)
      : in_(in_padded.wzyx()), out_(out_padded.wzyx()) {}
  Source source(std::size_t, const Coord4& at) const override {
    return Source::from(0, unflat(in_, flat(out_, at)));
  }

  std::string cache_key() const override {
    return "view " + dm::coord_text(in_) + dm::coord_text(out_);
  }

 private:
  Coord4 in_;
  Coord4 out_;
};

// Output dim i is input dim perm[i].
class PermuteMap : public dm::ElementMap {
 public:
  PermuteMap(Coord4 perm, Shape out_logical) : perm_(perm), out_(std::move(out_logical)) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);
    Coord4 in{};
    for (std::size_t i = 0; i < 4; ++i) in[perm_[i]] = at[i];
    return Source::from(0, in);
  }

  const Shape* filled_outside(std::size_t) const override { return &out_; }

  std::string cache_key() const override {
    return "permute " + dm::coord_text(perm_) + to_string(out_);
  }

 private:
  Coord4 perm_;
  Shape out_;
};

// Output spec of a permutation (perm in W Z Y X positions) of `in`.
TensorSpec permuted(const TensorSpec& in, const Coord4& perm) {
  const Coord4 d = in.logical_shape().wzyx();
  Coord4 out{};
  for (std::size_t i = 0; i < 4; ++i) out[i] = d[perm[i]];
  return unplaced(out, in.logical_shape().rank(), in);
}

class ConcatMap : public dm::ElementMap {
 public:
  ConcatMap(std::uint32_t dim, std::vector<std::uint32_t> offsets, Shape out_logical)
      : dim_(dim), offsets_(std::move(offsets)), out_(std::move(out_logical)) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);
    // offsets_ holds each input's first index along the dim, ascending, plus the total.
    const auto it = std::upper_bound(offsets_.begin(), offsets_.end(), at[dim_]);
    const auto input = static_cast<std::uint32_t>(it - offsets_.begin() - 1);
    Coord4 in = at;
    in[dim_] -= offsets_[input];
    return Source::from(input, in);
  }

  const Shape* filled_outside(std::size_t) const override { return &out_; }

  std::string cache_key() const override {
    std::string key = "concat " + std::to_string(dim_) + to_string(out_);
    for (std::uint32_t o : offsets_) key += " " + std::to_string(o);
    return key;
  }

 private:
  std::uint32_t dim_;
  std::vector<std::uint32_t> offsets_;
  Shape out_;
};

class SliceMap : public dm::ElementMap {
 public:
  SliceMap(Coord4 begin, Coord4 step, Shape out_logical)
      : begin_(begin), step_(step), out_(std::move(out_logical)) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);
    Coord4 in{};
    for (std::size_t i = 0; i < 4; ++i) in[i] = begin_[i] + at[i] * step_[i];
    return Source::from(0, in);
  }

  const Shape* filled_outside(std::size_t) const override { return &out_; }

  std::string cache_key() const override {
    return "slice " + dm::coord_text(begin_) + dm::coord_text(step_) + to_string(out_);
  }

 private:
  Coord4 begin_;
  Coord4 step_;
  Shape out_;
};

class PadMap : public dm::ElementMap {
 public:
  PadMap(Coord4 front, Shape in_logical, Shape out_logical, float value)
      : front_(front), in_(std::move(in_logical)), out_(std::move(out_logical)), value_(value) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);  // tile padding
    Coord4 in{};
    for (std::size_t i = 0; i < 4; ++i) {
      if (at[i] < front_[i]) return Source::filled(value_);
      in[i] = at[i] - front_[i];
    }
    return dm::inside(in_, in) ? Source::from(0, in) : Source::filled(value_);
  }

  const Shape* filled_outside(std::size_t) const override { return &out_; }

  std::string cache_key() const override {
    return "pad " + dm::coord_text(front_) + to_string(in_) + to_string(out_) +
           std::to_string(value_);
  }

 private:
  Coord4 front_;
  Shape in_;
  Shape out_;
  float value_;
};

class FoldMap : public dm::ElementMap {
 public:
  FoldMap(std::uint32_t stride_h, std::uint32_t stride_w, std::uint32_t channels, Shape out_logical)
      : sh_(stride_h), sw_(stride_w), c_(channels), out_(std::move(out_logical)) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);
    const std::uint32_t i = at[3] / (c_ * sw_);
    const std::uint32_t j = (at[3] / c_) % sw_;
    return Source::from(0, Coord4{at[0], at[1] * sh_ + i, at[2] * sw_ + j, at[3] % c_});
  }

  const Shape* filled_outside(std::size_t) const override { return &out_; }

  std::string cache_key() const override {
    return "fold " + std::to_string(sh_) + " " + std::to_string(sw_) + " " + std::to_string(c_) +
           to_string(out_);
  }

 private:
  std::uint32_t sh_;
  std::uint32_t sw_;
  std::uint32_t c_;
  Shape out_;
};

// Output row r of a padded_slice: image r / (h*W), row first + (r % (h*W)) / W of it.
class PaddedSliceMap : public dm::ElementMap {
 public:
  PaddedSliceMap(const RowBandOptions& o, Shape out_logical)
      : image_(static_cast<std::uint64_t>(o.height) * o.width),
        band_(static_cast<std::uint64_t>(o.last_row - o.first_row) * o.width),
        offset_(static_cast<std::uint64_t>(o.first_row) * o.width),
        out_(std::move(out_logical)) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);
    const std::uint64_t row = (at[2] / band_) * image_ + offset_ + at[2] % band_;
    return Source::from(0, Coord4{0, 0, static_cast<std::uint32_t>(row), at[3]});
  }
  const Shape* filled_outside(std::size_t) const override { return &out_; }
  std::string cache_key() const override {
    return "padded_slice " + std::to_string(image_) + " " + std::to_string(band_) + " " +
           std::to_string(offset_) + to_string(out_);
  }

 private:
  std::uint64_t image_;
  std::uint64_t band_;
  std::uint64_t offset_;
  Shape out_;
};

// Output row of image b, image row y, column x: row (b*h + y - first)*W + x of y's band.
class SliceWriteMap : public dm::ElementMap {
 public:
  SliceWriteMap(const RowBandOptions& o, Shape out_logical)
      : width_(o.width), height_(o.height), out_(std::move(out_logical)) {
    firsts_.push_back(0);
    for (std::uint32_t h : o.band_heights) firsts_.push_back(firsts_.back() + h);
  }
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);
    const std::uint64_t image = static_cast<std::uint64_t>(height_) * width_;
    const std::uint64_t b = at[2] / image;
    const auto y = static_cast<std::uint32_t>((at[2] % image) / width_);
    const std::uint32_t x = static_cast<std::uint32_t>(at[2] % image) % width_;
    const auto it = std::upper_bound(firsts_.begin(), firsts_.end(), y);
    const auto band = static_cast<std::uint32_t>(it - firsts_.begin() - 1);
    const std::uint64_t h = firsts_[band + 1] - firsts_[band];
    const std::uint64_t row = (b * h + (y - firsts_[band])) * width_ + x;
    return Source::from(band, Coord4{0, 0, static_cast<std::uint32_t>(row), at[3]});
  }
  const Shape* filled_outside(std::size_t) const override { return &out_; }
  std::string cache_key() const override {
    std::string key = "slice_write " + std::to_string(width_) + to_string(out_);
    for (std::uint32_t f : firsts_) key += " " + std::to_string(f);
    return key;
  }

 private:
  std::uint32_t width_;
  std::uint32_t height_;
  std::vector<std::uint32_t> firsts_;
  Shape out_;
};

// The [1, 1, rows, C] shape a row band op takes or gives; throws naming the op otherwise.
void expect_rows(const TensorSpec& t, std::uint64_t rows, const std::string& op,
                 const std::string& what) {
  const Coord4 d = t.logical_shape().wzyx();
  if (d[0] != 1 || d[1] != 1 || d[2] != rows) {
    throw Error(op + ": " + what + " " + to_string(t.logical_shape()) + " must be [1, 1, " +
                std::to_string(rows) + ", C]: the NHWC rows of the images its parameters give");
  }
}

}  // namespace

// ---- conv DRAM slicing ----

std::string PaddedSliceOp::attributes() const {
  // tt-metal's padded_slice_start / padded_slice_end over the [N, H, W, C] view, plus that
  // view's size (the input here is its flat rows).
  const RowBandOptions& o = options_;
  return "{'input_nhw': '[" + std::to_string(o.batch) + ", " + std::to_string(o.height) + ", " +
         std::to_string(o.width) + "]'; 'padded_slice_start': '[0, " + std::to_string(o.first_row) +
         ", 0, 0]'; 'padded_slice_end': '[" + std::to_string(o.batch) + ", " +
         std::to_string(o.last_row) + ", " + std::to_string(o.width) +
         ", -1]'; 'output_mem_config': '" + memory_attribute() + "'}";
}
std::vector<TensorSpec> PaddedSliceOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                    const arch::DeviceSpec& device) const {
  expect_inputs(inputs, 1, "padded_slice");
  const RowBandOptions& o = options_;
  if (o.first_row >= o.last_row || o.last_row > o.height) {
    throw Error("padded_slice: rows [" + std::to_string(o.first_row) + ", " +
                std::to_string(o.last_row) + ") are not a non-empty range of the " +
                std::to_string(o.height) + " image rows");
  }
  const TensorSpec& in = inputs[0];
  expect_rows(in, static_cast<std::uint64_t>(o.batch) * o.height * o.width, "padded_slice",
              "input");
  Coord4 out = in.logical_shape().wzyx();
  out[2] = o.batch * (o.last_row - o.first_row) * o.width;
  const TensorSpec base = unplaced(out, 4, in);
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> PaddedSliceOp::element_map(
    const std::vector<TensorSpec>&, const std::vector<TensorSpec>& outputs) const {
  return std::make_unique<PaddedSliceMap>(options_, outputs[0].logical_shape());
}

std::string SliceWriteOp::attributes() const {
  std::string heights;
  for (std::uint32_t h : options_.band_heights)
    heights += (heights.empty() ? "" : ", ") + std::to_string(h);
  return "{'batch_size': '" + std::to_string(options_.batch) + "'; 'input_width': '" +
         std::to_string(options_.width) + "'; 'band_heights': '[" + heights +
         "]'; 'output_mem_config': '" + memory_attribute() + "'}";
}

std::vector<TensorSpec> SliceWriteOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                   const arch::DeviceSpec& device) const {
  const RowBandOptions& o = options_;
  if (o.band_heights.empty() || inputs.size() != o.band_heights.size()) {
    throw Error("slice_write: " + std::to_string(inputs.size()) + " inputs for " +
                std::to_string(o.band_heights.size()) + " band_heights; give one height per band");
  }
  std::uint32_t height = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (o.band_heights[i] == 0) throw Error("slice_write: band " + std::to_string(i) + " is empty");
    const TensorSpec& t = inputs[i];
    expect_rows(t, static_cast<std::uint64_t>(o.batch) * o.band_heights[i] * o.width, "slice_write",
                "band " + std::to_string(i));
    if (t.logical_shape().x() != inputs[0].logical_shape().x() ||
        t.data_type() != inputs[0].data_type() || t.layout() != inputs[0].layout()) {
      throw Error("slice_write: band " + std::to_string(i) +
                  " differs from band 0 in channels, dtype or layout");
    }
    height += o.band_heights[i];
  }
  if (height != o.height) {
    throw Error("slice_write: the bands hold " + std::to_string(height) + " rows, not " +
                std::to_string(o.height));
  }
  const std::uint64_t rows = static_cast<std::uint64_t>(o.batch) * o.height * o.width;
  if (rows > std::numeric_limits<std::uint32_t>::max())
    throw Error("slice_write: " + std::to_string(rows) + " output rows exceed a tensor dim");
  Coord4 out = inputs[0].logical_shape().wzyx();
  out[2] = static_cast<std::uint32_t>(rows);
  const TensorSpec base = unplaced(out, 4, inputs[0]);
  return {base.with_memory_config(
      output_memory(base, dm::like_input(inputs[0], base, device), device))};
}

std::unique_ptr<dm::ElementMap> SliceWriteOp::element_map(
    const std::vector<TensorSpec>&, const std::vector<TensorSpec>& outputs) const {
  return std::make_unique<SliceWriteMap>(options_, outputs[0].logical_shape());
}

// ---- reshape ----

std::string ReshapeOp::attributes() const {
  return "{'logical_shape': '" + int_list(options_.shape) + "'; 'output_mem_config': '" +
         memory_attribute() + "'; 'view': '" + (view_ ? "true" : "false") + "'}";
}

std::vector<TensorSpec> ReshapeOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                const arch::DeviceSpec& device) const {
  expect_inputs(inputs, 1, "reshape");
  const TensorSpec& in = inputs[0];
  const std::vector<std::int64_t>& shape = options_.shape;
  if (shape.empty() || shape.size() > 4) {
    throw Error("reshape: shape " + int_list(shape) + " must have 1 to 4 dims");
  }
  std::int64_t known = 1;
  int inferred = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0) throw Error("reshape: shape " + int_list(shape) + " has more than one -1");
      inferred = static_cast<int>(i);
    } else if (shape[i] <= 0) {
      throw Error("reshape: shape " + int_list(shape) + " has a dim " + std::to_string(shape[i]) +
                  "; dims must be positive (or one -1)");
    } else {
      known *= shape[i];
    }
  }
  const auto volume = static_cast<std::int64_t>(in.logical_shape().volume());
  std::vector<std::uint32_t> dims;
  for (std::int64_t d : shape) dims.push_back(static_cast<std::uint32_t>(d));
  if (inferred >= 0) {
    if (volume % known != 0) {
      throw Error("reshape: cannot infer the -1 in " + int_list(shape) + " for " +
                  to_string(in.logical_shape()) + " (" + std::to_string(volume) + " elements)");
    }
    dims[static_cast<std::size_t>(inferred)] = static_cast<std::uint32_t>(volume / known);
  } else if (known != volume) {
    throw Error("reshape: cannot reshape " + to_string(in.logical_shape()) + " (" +
                std::to_string(volume) + " elements) into " + int_list(shape) + " (" +
                std::to_string(known) + " elements); the volumes must match");
  }
  const Shape logical(dims);
  const TensorSpec base(logical, in.data_type(), in.layout());
  const Shape& old = in.logical_shape();
  // A view needs the pages unchanged: same rows (ROW_MAJOR) / same tile rows (TILE).
  bool view = logical.x() == old.x();
  if (in.layout() == Layout::RowMajor) {
    view = view && in.padded_shape() == old;
  } else {
    view =
        view && in.padded_shape() == old.padded_to_tile() &&
        (logical.y() == old.y() || (logical.y() % kTileHeight == 0 && old.y() % kTileHeight == 0));
  }
  view_ = false;
  if (view) {
    const MemoryConfig wanted =
        dm::resolve_memory(memory_, base, in.memory_config(), device, op_code());
    if (wanted == in.memory_config()) {
      try {
        const TensorSpec out = base.with_memory_config(in.memory_config());
        validate_for_device(out, device);
        view_ = true;
        resolved_ = in.memory_config();
        return {out};
      } catch (const Error&) {
        // The input's shard spec does not fit the new shape: copy instead.
      }
    }
  }
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> ReshapeOp::element_map(
    const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const {
  if (view_ && inputs[0].padded_shape().volume() == outputs[0].padded_shape().volume()) {
    return std::make_unique<ViewMap>(inputs[0].padded_shape(), outputs[0].padded_shape());
  }
  return std::make_unique<ReshapeMap>(inputs[0].logical_shape(), outputs[0].logical_shape());
}

void ReshapeOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                      const std::vector<TensorSpec>& outputs) const {
  if (view_) {
    dm::launch_noop(program);  // metadata only: nothing moves
    return;
  }
  // Interleaved bfloat16 / float32 TILE tensors go through tt-metal's tiled reshape (whole input
  // tiles, segments copied locally). The rest keep the generic gather: sharded tensors (tt-metal
  // converts them to interleaved and back around it) and block-float ones (tt-metal typecasts
  // them to bfloat16 and back around it); neither detour is modelled.
  const DataType type = inputs[0].data_type();
  const bool whole_element_type = type == DataType::BFloat16 || type == DataType::Float32;
  if (inputs[0].layout() == Layout::Tile && whole_element_type && !inputs[0].is_sharded() &&
      !outputs[0].is_sharded()) {
    dm::build_gather(program, *element_map(inputs, outputs), inputs, outputs, false,
                     dm::TileSources::WholeTiles);
    return;
  }
  DataMovementOp::build(program, inputs, outputs);
}

PerfModel ReshapeOp::perf_model(const std::vector<TensorSpec>& inputs,
                                const std::vector<TensorSpec>& outputs,
                                const arch::DeviceSpec& device) const {
  if (view_) return PerfModel{1.0, 1.0};
  return DataMovementOp::perf_model(inputs, outputs, device);
}

// ---- permute / transpose ----

std::string PermuteOp::attributes() const {
  return "{'dims': '" + int_list(options_.dims) + "'; 'output_mem_config': '" + memory_attribute() +
         "'; 'pad_value': '0'}";
}

std::vector<TensorSpec> PermuteOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                const arch::DeviceSpec& device) const {
  expect_inputs(inputs, 1, "permute");
  const TensorSpec& in = inputs[0];
  const std::size_t rank = in.logical_shape().rank();
  if (options_.dims.size() != rank) {
    throw Error("permute: dims " + int_list(options_.dims) + " must list all " +
                std::to_string(rank) + " dims of " + to_string(in.logical_shape()));
  }
  Coord4 perm{0, 1, 2, 3};
  std::vector<bool> seen(4, false);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::uint32_t d = dim4(options_.dims[i], rank, "permute", "dim");
    if (seen[d])
      throw Error("permute: dims " + int_list(options_.dims) + " repeat a dim; give a permutation");
    seen[d] = true;
    perm[i + (4 - rank)] = d;
  }
  const TensorSpec base = permuted(in, perm);
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> PermuteOp::element_map(
    const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const {
  const std::size_t rank = inputs[0].logical_shape().rank();
  Coord4 perm{0, 1, 2, 3};
  for (std::size_t i = 0; i < rank; ++i)
    perm[i + (4 - rank)] = dim4(options_.dims[i], rank, "permute", "dim");
  return std::make_unique<PermuteMap>(perm, outputs[0].logical_shape());
}

std::string TransposeOp::attributes() const {
  return "{'dim': 'TransposeOpDim::" +
         (dim_name_.empty() ? std::to_string(options_.dim0) + "," + std::to_string(options_.dim1)
                            : dim_name_) +
         "'; 'output_mem_config': '" + memory_attribute() + "'; 'pad_value': '0'}";
}

std::vector<TensorSpec> TransposeOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                  const arch::DeviceSpec& device) const {
  expect_inputs(inputs, 1, "transpose");
  const TensorSpec& in = inputs[0];
  const std::size_t rank = in.logical_shape().rank();
  std::uint32_t a = dim4(options_.dim0, rank, "transpose", "dim0");
  std::uint32_t b = dim4(options_.dim1, rank, "transpose", "dim1");
  if (a > b) std::swap(a, b);
  // TT-NN's TransposeOpDim names, by the two dims of [N, C, H, W].
  static const std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> kNames = {
      {{2, 3}, "WH"}, {{1, 2}, "HC"}, {{0, 1}, "CN"},
      {{0, 2}, "NH"}, {{0, 3}, "NW"}, {{1, 3}, "CW"}};
  const auto it = kNames.find({a, b});
  dim_name_ = it == kNames.end() ? "NONE" : it->second;
  Coord4 perm{0, 1, 2, 3};
  std::swap(perm[a], perm[b]);
  const TensorSpec base = permuted(in, perm);
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> TransposeOp::element_map(
    const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const {
  const std::size_t rank = inputs[0].logical_shape().rank();
  Coord4 perm{0, 1, 2, 3};
  std::swap(perm[dim4(options_.dim0, rank, "transpose", "dim0")],
            perm[dim4(options_.dim1, rank, "transpose", "dim1")]);
  return std::make_unique<PermuteMap>(perm, outputs[0].logical_shape());
}

// ---- concat ----

std::string ConcatOp::attributes() const {
  return "{'dim': '" + std::to_string(options_.dim) + "'; 'output_mem_config': '" +
         memory_attribute() + "'}";
}

std::vector<TensorSpec> ConcatOp::output_specs(const std::vector<TensorSpec>& inputs,
                                               const arch::DeviceSpec& device) const {
  if (inputs.empty()) throw Error("concat needs at least one input");
  const TensorSpec& first = inputs[0];
  const std::size_t rank = first.logical_shape().rank();
  const std::uint32_t d = dim4(options_.dim, rank, "concat", "dim");
  Coord4 out = first.logical_shape().wzyx();
  out[d] = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const TensorSpec& t = inputs[k];
    if (t.logical_shape().rank() != rank || t.data_type() != first.data_type() ||
        t.layout() != first.layout()) {
      throw Error("concat: input " + std::to_string(k) + " (" + to_string(t.logical_shape()) + " " +
                  std::string(to_string(t.data_type())) + " " + std::string(to_string(t.layout())) +
                  ") differs in rank, dtype or layout from input 0 (" +
                  to_string(first.logical_shape()) + " " +
                  std::string(to_string(first.data_type())) + " " +
                  std::string(to_string(first.layout())) + ")");
    }
    const Coord4 dims = t.logical_shape().wzyx();
    for (std::size_t i = 0; i < 4; ++i) {
      if (i != d && dims[i] != first.logical_shape().wzyx()[i]) {
        throw Error("concat: shape mismatch: input " + std::to_string(k) + " is " +
                    to_string(t.logical_shape()) + " but input 0 is " +
                    to_string(first.logical_shape()) + "; all dims except dim " +
                    std::to_string(options_.dim) + " must match");
      }
    }
    out[d] += dims[d];
  }
  const TensorSpec base = unplaced(out, rank, first);
  return {
      base.with_memory_config(output_memory(base, dm::like_input(first, base, device), device))};
}

std::unique_ptr<dm::ElementMap> ConcatOp::element_map(
    const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const {
  const std::uint32_t d = dim4(options_.dim, inputs[0].logical_shape().rank(), "concat", "dim");
  std::vector<std::uint32_t> offsets{0};
  for (const TensorSpec& t : inputs)
    offsets.push_back(offsets.back() + t.logical_shape().wzyx()[d]);
  return std::make_unique<ConcatMap>(d, offsets, outputs[0].logical_shape());
}

// ---- slice ----

std::string SliceOp::attributes() const {
  return "{'slice_start': '" + int_list(options_.begins) + "'; 'slice_end': '" +
         int_list(options_.ends) + "'; 'step': '" + int_list(options_.steps) +
         "'; 'output_mem_config': '" + memory_attribute() + "'}";
}

std::vector<TensorSpec> SliceOp::output_specs(const std::vector<TensorSpec>& inputs,
                                              const arch::DeviceSpec& device) const {
  expect_inputs(inputs, 1, "slice");
  const TensorSpec& in = inputs[0];
  const std::size_t rank = in.logical_shape().rank();
  if (options_.begins.size() != rank || options_.ends.size() != rank ||
      (!options_.steps.empty() && options_.steps.size() != rank)) {
    throw Error("slice: begins " + int_list(options_.begins) + ", ends " + int_list(options_.ends) +
                " and steps " + int_list(options_.steps) + " need one entry per dim of " +
                to_string(in.logical_shape()));
  }
  const Coord4 d = in.logical_shape().wzyx();
  Coord4 out = d;
  begin4_ = {0, 0, 0, 0};
  step4_ = {1, 1, 1, 1};
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t p = i + (4 - rank);
    const auto size = static_cast<std::int64_t>(d[p]);
    std::int64_t b = options_.begins[i];
    std::int64_t e = options_.ends[i];
    const std::int64_t step = options_.steps.empty() ? 1 : options_.steps[i];
    if (b < 0) b += size;
    if (e < 0) e += size;
    if (step < 1)
      throw Error("slice: step " + std::to_string(step) + " in dim " + std::to_string(i) +
                  " must be >= 1");
    if (b < 0 || b >= size || e <= b || e > size) {
      throw Error("slice: [" + std::to_string(options_.begins[i]) + ", " +
                  std::to_string(options_.ends[i]) + ") in dim " + std::to_string(i) +
                  " is out of range for size " + std::to_string(size) + " of " +
                  to_string(in.logical_shape()) + "; need 0 <= begin < end <= size");
    }
    begin4_[p] = static_cast<std::uint32_t>(b);
    step4_[p] = static_cast<std::uint32_t>(step);
    out[p] = static_cast<std::uint32_t>((e - b + step - 1) / step);
  }
  const TensorSpec base = unplaced(out, rank, in);
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> SliceOp::element_map(const std::vector<TensorSpec>&,
                                                     const std::vector<TensorSpec>& outputs) const {
  return std::make_unique<SliceMap>(begin4_, step4_, outputs[0].logical_shape());
}

// ---- pad ----

std::string PadOp::attributes() const {
  std::string pads = "[";
  for (std::size_t i = 0; i < options_.padding.size(); ++i) {
    pads += (i ? "; " : "") + std::string("(") + std::to_string(options_.padding[i].first) + ", " +
            std::to_string(options_.padding[i].second) + ")";
  }
  return "{'padding': '" + pads + "]'; 'pad_value': '" + std::to_string(options_.value) +
         "'; 'output_mem_config': '" + memory_attribute() + "'}";
}

std::vector<TensorSpec> PadOp::output_specs(const std::vector<TensorSpec>& inputs,
                                            const arch::DeviceSpec& device) const {
  expect_inputs(inputs, 1, "pad");
  const TensorSpec& in = inputs[0];
  const std::size_t rank = in.logical_shape().rank();
  if (options_.padding.empty() || options_.padding.size() > rank) {
    throw Error("pad: padding has " + std::to_string(options_.padding.size()) +
                " (before, after) pairs; " + to_string(in.logical_shape()) + " takes 1 to " +
                std::to_string(rank));
  }
  Coord4 out = in.logical_shape().wzyx();
  const std::size_t first = 4 - options_.padding.size();
  for (std::size_t i = 0; i < options_.padding.size(); ++i) {
    const std::uint64_t size = static_cast<std::uint64_t>(out[first + i]) +
                               options_.padding[i].first + options_.padding[i].second;
    if (size > 0xFFFFFFFFull) throw Error("pad: padded dim " + std::to_string(i) + " is too large");
    out[first + i] = static_cast<std::uint32_t>(size);
  }
  const TensorSpec base = unplaced(out, rank, in);
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> PadOp::element_map(const std::vector<TensorSpec>& inputs,
                                                   const std::vector<TensorSpec>& outputs) const {
  Coord4 front{0, 0, 0, 0};
  const std::size_t first = 4 - options_.padding.size();
  for (std::size_t i = 0; i < options_.padding.size(); ++i)
    front[first + i] = options_.padding[i].first;
  return std::make_unique<PadMap>(front, inputs[0].logical_shape(), outputs[0].logical_shape(),
                                  options_.value);
}

// ---- fold ----

std::string FoldOp::attributes() const {
  return "{'stride_h': '" + std::to_string(options_.stride_h) + "'; 'stride_w': '" +
         std::to_string(options_.stride_w) + "'; 'output_mem_config': '" + memory_attribute() +
         "'}";
}

std::vector<TensorSpec> FoldOp::output_specs(const std::vector<TensorSpec>& inputs,
                                             const arch::DeviceSpec& device) const {
  expect_inputs(inputs, 1, "fold");
  const TensorSpec& in = inputs[0];
  if (in.logical_shape().rank() != 4) {
    throw Error("fold: the input must be [N, H, W, C], got " + to_string(in.logical_shape()));
  }
  const std::uint32_t sh = options_.stride_h;
  const std::uint32_t sw = options_.stride_w;
  const Coord4 d = in.logical_shape().wzyx();
  if (sh == 0 || sw == 0 || d[1] % sh != 0 || d[2] % sw != 0) {
    throw Error("fold: strides (" + std::to_string(sh) + ", " + std::to_string(sw) +
                ") must be >= 1 and divide H=" + std::to_string(d[1]) +
                " and W=" + std::to_string(d[2]) + " of " + to_string(in.logical_shape()));
  }
  const TensorSpec base = unplaced(Coord4{d[0], d[1] / sh, d[2] / sw, d[3] * sh * sw}, 4, in);
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> FoldOp::element_map(const std::vector<TensorSpec>& inputs,
                                                    const std::vector<TensorSpec>& outputs) const {
  return std::make_unique<FoldMap>(options_.stride_h, options_.stride_w,
                                   inputs[0].logical_shape().x(), outputs[0].logical_shape());
}

}  // namespace wormsim::ops
