// Tensor specs, memory configs, shard placement and the tt-metal string formats.
#include "ops/tensor.hpp"

#include <gtest/gtest.h>

#include <string>

#include "arch/device_spec.hpp"
#include "ops/memory_config.hpp"
#include "ops/tensor_spec.hpp"
#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

// Runs `body`, expects a wormsim::Error whose message contains every fragment.
template <typename Body>
void expect_error(Body&& body, std::initializer_list<std::string> fragments) {
  try {
    body();
    ADD_FAILURE() << "expected wormsim::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message lacks '" << fragment << "': " << message;
    }
  }
}

ShardSpec shard(CoreRangeSet grid, std::uint32_t height, std::uint32_t width,
                ShardOrientation orientation = ShardOrientation::RowMajor) {
  ShardSpec spec;
  spec.grid = std::move(grid);
  spec.shape = {height, width};
  spec.orientation = orientation;
  return spec;
}

CoreRange rect(std::uint32_t x0, std::uint32_t y0, std::uint32_t x1, std::uint32_t y1) {
  return CoreRange(CoreCoord{x0, y0}, CoreCoord{x1, y1});
}

// ---------------------------------------------------------------- shapes

TEST(TensorShape, WzyxViewPadsLeadingOnes) {
  const Shape shape{19, 40};
  EXPECT_EQ(shape.rank(), 2u);
  EXPECT_EQ(shape.w(), 1u);
  EXPECT_EQ(shape.z(), 1u);
  EXPECT_EQ(shape.y(), 19u);
  EXPECT_EQ(shape.x(), 40u);
  EXPECT_EQ(shape.volume(), 760u);
  EXPECT_EQ(to_string(Shape{1, 1, 32, 64}), "Shape([1, 1, 32, 64])");
  const Shape four{2, 3, 5, 7};
  EXPECT_EQ(four.wzyx(), (std::array<std::uint32_t, 4>{2, 3, 5, 7}));
  EXPECT_EQ(four.volume(), 210u);
}

TEST(TensorShape, TilePaddingRoundsLastTwoDims) {
  EXPECT_EQ((Shape{1, 1, 19, 40}.padded_to_tile()), (Shape{1, 1, 32, 64}));
  EXPECT_EQ((Shape{2, 3, 64, 96}.padded_to_tile()), (Shape{2, 3, 64, 96}));
  EXPECT_EQ((Shape{33, 1}.padded_to_tile()), (Shape{64, 32}));
  // A vector becomes one row of tiles.
  EXPECT_EQ((Shape{5}.padded_to_tile()), (Shape{32, 32}));
}

TEST(TensorShape, RejectsBadRankAndZeroDims) {
  expect_error([] { Shape(std::vector<std::uint32_t>{}); }, {"rank 0"});
  expect_error([] { Shape({1, 2, 3, 4, 5}); }, {"rank 5", "1 to 4"});
  expect_error([] { Shape({1, 0, 32}); }, {"zero", "dim 1"});
}

// ---------------------------------------------------------------- pages

TEST(TensorSpec, TilePaddingPagesAndBytes) {
  const TensorSpec spec(Shape{1, 1, 19, 40}, DataType::BFloat16, Layout::Tile);
  EXPECT_EQ(spec.padded_shape(), (Shape{1, 1, 32, 64}));
  EXPECT_EQ(spec.physical_height(), 32u);
  EXPECT_EQ(spec.physical_width(), 64u);
  EXPECT_EQ(spec.height_tiles(), 1u);
  EXPECT_EQ(spec.width_tiles(), 2u);
  EXPECT_EQ(spec.page_size_bytes(), 2048u);
  EXPECT_EQ(spec.num_pages(), 2u);
  EXPECT_EQ(spec.total_bytes(), 4096u);
  EXPECT_EQ(spec.memory_config(), MemoryConfig::dram_interleaved());
}

TEST(TensorSpec, HeightInTilesFoldsOuterDims) {
  // W*Z*Y_padded/32 = 2*3*64/32 = 12 tile rows; X 100 -> 128 -> 4 tile columns.
  const TensorSpec spec(Shape{2, 3, 40, 100}, DataType::BFloat16, Layout::Tile);
  EXPECT_EQ(spec.padded_shape(), (Shape{2, 3, 64, 128}));
  EXPECT_EQ(spec.physical_height(), 384u);
  EXPECT_EQ(spec.height_tiles(), 12u);
  EXPECT_EQ(spec.width_tiles(), 4u);
  EXPECT_EQ(spec.num_pages(), 48u);
}

TEST(TensorSpec, TilePageSizePerDataType) {
  const Shape shape{2, 3, 64, 96};  // 2*3*2*3 = 36 tiles
  const std::pair<DataType, std::uint32_t> cases[] = {
      {DataType::Float32, 4096},  {DataType::BFloat16, 2048}, {DataType::BFloat8_B, 1088},
      {DataType::BFloat4_B, 576}, {DataType::UInt32, 4096},   {DataType::Int32, 4096}};
  for (const auto& [type, bytes] : cases) {
    const TensorSpec spec(shape, type, Layout::Tile);
    EXPECT_EQ(spec.page_size_bytes(), bytes) << to_string(type);
    EXPECT_EQ(spec.num_pages(), 36u) << to_string(type);
    EXPECT_EQ(spec.total_bytes(), 36u * bytes) << to_string(type);
  }
}

TEST(TensorSpec, RowMajorPagesAreRows) {
  const TensorSpec bf16(Shape{1, 1, 19, 40}, DataType::BFloat16, Layout::RowMajor);
  EXPECT_EQ(bf16.padded_shape(), (Shape{1, 1, 19, 40}));
  EXPECT_EQ(bf16.page_shape(), (std::array<std::uint32_t, 2>{1, 40}));
  EXPECT_EQ(bf16.page_size_bytes(), 80u);
  EXPECT_EQ(bf16.num_pages(), 19u);
  EXPECT_EQ(bf16.total_bytes(), 1520u);
  const TensorSpec fp32 = bf16.with_data_type(DataType::Float32);
  EXPECT_EQ(fp32.page_size_bytes(), 160u);
  EXPECT_EQ(fp32.total_bytes(), 3040u);
  // Switching layout re-derives the padding.
  EXPECT_EQ(bf16.with_layout(Layout::Tile).padded_shape(), (Shape{1, 1, 32, 64}));
}

TEST(TensorSpec, ExplicitRowMajorPadding) {
  // ROW_MAJOR rows padded from 3 to 8 values, as in a real halo input (tt-perf-report sample:
  // INPUT X cell "8[3]").
  const TensorSpec spec(Shape{1, 1, 491520, 3}, Shape{1, 1, 491520, 8}, DataType::BFloat16,
                        Layout::RowMajor, MemoryConfig::dram_interleaved());
  EXPECT_EQ(spec.page_size_bytes(), 16u);
  EXPECT_EQ(spec.num_pages(), 491520u);
}

TEST(TensorSpec, InvalidShapesAndLayouts) {
  expect_error(
      [] {
        TensorSpec(Shape{1, 1, 32, 32}, DataType::BFloat8_B, Layout::RowMajor);
      },
      {"BFLOAT8_B", "TILE layout"});
  expect_error(
      [] {
        TensorSpec(Shape{32, 32}, DataType::BFloat4_B, Layout::RowMajor);
      },
      {"BFLOAT4_B", "TILE layout"});
  expect_error(
      [] {
        TensorSpec(Shape{1, 1, 40, 40}, Shape{1, 1, 32, 64}, DataType::BFloat16, Layout::Tile,
                   MemoryConfig());
      },
      {"smaller than the logical shape in Y"});
  expect_error(
      [] {
        TensorSpec(Shape{1, 1, 40, 40}, Shape{1, 1, 48, 64}, DataType::BFloat16, Layout::Tile,
                   MemoryConfig());
      },
      {"whole 32x32 tiles"});
  expect_error(
      [] {
        TensorSpec(Shape{40, 40}, Shape{1, 64, 64}, DataType::BFloat16, Layout::Tile,
                   MemoryConfig());
      },
      {"rank 3", "must have rank 2"});
}

// ---------------------------------------------------------------- memory config validation

TEST(MemoryConfig, StructuralErrors) {
  const ShardSpec one_core = shard(CoreRangeSet(rect(0, 0, 0, 0)), 32, 32);
  expect_error([] { MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1); },
               {"HEIGHT_SHARDED", "no ShardSpec"});
  expect_error([&] { MemoryConfig(TensorMemoryLayout::Interleaved, BufferType::L1, one_core); },
               {"INTERLEAVED", "has a ShardSpec"});
  const CoreRangeSet two_ranges(std::vector<CoreRange>{rect(0, 0, 7, 6), rect(0, 7, 6, 7)});
  expect_error(
      [&] {
        MemoryConfig(TensorMemoryLayout::BlockSharded, BufferType::L1, shard(two_ranges, 32, 32));
      },
      {"BLOCK_SHARDED", "one rectangle", "2 ranges", "[(x=0,y=0) - (x=7,y=7)]"});
  expect_error([&] { MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::DRAM, one_core); },
               {"DRAM sharding", "WIDTH_SHARDED"});
  expect_error(
      [] {
        MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1,
                     shard(CoreRangeSet(rect(0, 0, 1, 1)), 0, 32));
      },
      {"zero dimension"});
  expect_error(
      [] {
        CoreRangeSet(std::vector<CoreRange>{rect(0, 0, 3, 3), rect(3, 3, 4, 4)});
      },
      {"overlap"});
  expect_error([] { rect(4, 0, 2, 0); }, {"inverted"});
}

TEST(TensorSpec, ShardShapeErrors) {
  const TensorSpec base(Shape{1, 1, 1024, 64}, DataType::BFloat16, Layout::Tile);
  const CoreRangeSet row8(rect(0, 0, 7, 0));
  expect_error(
      [&] {
        base.with_memory_config(
            MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, shard(row8, 100, 64)));
      },
      {"not tile-aligned", "{100, 64}", "{128, 64}"});
  expect_error(
      [&] {
        base.with_memory_config(
            MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, shard(row8, 128, 32)));
      },
      {"full width", "shard width 32 != tensor width 64"});
  expect_error(
      [&] {
        base.with_memory_config(
            MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, shard(row8, 32, 64)));
      },
      {"needs 32 cores", "8 cores"});
  expect_error(
      [&] {
        base.with_memory_config(
            MemoryConfig(TensorMemoryLayout::WidthSharded, BufferType::L1, shard(row8, 512, 32)));
      },
      {"full height", "shard height 512 != tensor height 1024"});
  // BLOCK on a 4-wide, 2-tall grid: ROW_MAJOR allows 2 shards down the height.
  const CoreRangeSet grid4x2(rect(0, 0, 3, 1));
  expect_error(
      [&] {
        base.with_memory_config(MemoryConfig(TensorMemoryLayout::BlockSharded, BufferType::L1,
                                             shard(grid4x2, 256, 32)));
      },
      {"4 shards along the height", "2 grid rows", "ROW_MAJOR"});
  // COL_MAJOR turns the grid: the height goes along the 4 columns, the width along 2 rows.
  const TensorSpec col_major =
      base.with_memory_config(MemoryConfig(TensorMemoryLayout::BlockSharded, BufferType::L1,
                                           shard(grid4x2, 256, 32, ShardOrientation::ColMajor)));
  EXPECT_EQ(col_major.shards_along_height(), 4u);
  EXPECT_EQ(col_major.shards_along_width(), 2u);
  const TensorSpec wide(Shape{1, 1, 64, 256}, DataType::BFloat16, Layout::Tile);
  expect_error(
      [&] {
        wide.with_memory_config(MemoryConfig(TensorMemoryLayout::BlockSharded, BufferType::L1,
                                             shard(grid4x2, 32, 64, ShardOrientation::ColMajor)));
      },
      {"4 shards along the width", "2 grid rows", "COL_MAJOR"});
}

TEST(TensorSpec, DeviceValidation) {
  const TensorSpec base(Shape{1, 1, 1024, 64}, DataType::BFloat16, Layout::Tile);
  // Nine columns on an 8-wide worker grid.
  const TensorSpec too_wide =
      base.with_memory_config(height_sharded(base, CoreRangeSet(rect(0, 0, 8, 0))));
  expect_error([&] { validate_for_device(too_wide, n300()); },
               {"(x=8,y=0)", "outside the 8x8 worker grid", "shrink the grid"});
  expect_error([&] { height_sharded(base, 65, n300()); }, {"65 cores", "8x8"});
  // DRAM shards address banks 0..11.
  const TensorSpec weight(Shape{1, 1, 64, 13 * 32}, DataType::BFloat8_B, Layout::Tile);
  ShardSpec thirteen = shard(CoreRangeSet(rect(0, 0, 12, 0)), 64, 32);
  const TensorSpec on_13_banks = weight.with_memory_config(
      MemoryConfig(TensorMemoryLayout::WidthSharded, BufferType::DRAM, thirteen));
  expect_error([&] { validate_for_device(on_13_banks, n300()); },
               {"DRAM shard grid", "bank 0..11"});
  // 2 GiB interleaved over 64 L1 banks does not fit a core's usable L1.
  const TensorSpec huge(Shape{1, 1, 32768, 32768}, DataType::BFloat16, Layout::Tile,
                        MemoryConfig::l1_interleaved());
  expect_error([&] { validate_for_device(huge, n300()); }, {"of L1 per core", "usable"});
  EXPECT_NO_THROW(validate_for_device(huge.with_memory_config(MemoryConfig()), n300()));
}

// ---------------------------------------------------------------- shard placement

TEST(ShardPlacement, HeightShardedRowMajorLastShardPartial) {
  // H = 2*320 = 640 rows over 8 cores: ceil(640/8) = 80 -> 96 rows (tile) -> 7 shards.
  const TensorSpec spec(Shape{1, 2, 300, 64}, DataType::BFloat16, Layout::Tile);
  const MemoryConfig config = height_sharded(spec, 8, n300());
  ASSERT_TRUE(config.shard_spec());
  EXPECT_EQ(config.shard_spec()->grid, CoreRangeSet(rect(0, 0, 7, 0)));
  EXPECT_EQ(config.shard_spec()->shape, (std::array<std::uint32_t, 2>{96, 64}));
  const TensorSpec sharded = spec.with_memory_config(config);
  EXPECT_EQ(sharded.num_shards(), 7u);
  EXPECT_EQ(sharded.pages_per_shard(), 6u);
  const auto placements = shard_placements(sharded);
  ASSERT_EQ(placements.size(), 7u);  // core (7,0) stays empty
  EXPECT_EQ(placements[2].core, (CoreCoord{2, 0}));
  EXPECT_EQ(placements[2].row_start, 192u);
  EXPECT_EQ(placements[2].rows, 96u);
  EXPECT_EQ(placements[2].pages, 6u);
  const ShardPlacement& last = placements.back();
  EXPECT_EQ(last.core, (CoreCoord{6, 0}));
  EXPECT_EQ(last.shard_index, 6u);
  EXPECT_EQ(last.row_start, 576u);
  EXPECT_EQ(last.rows, 64u);
  EXPECT_EQ(last.cols, 64u);
  EXPECT_EQ(last.pages, 4u);
  std::uint64_t pages = 0;
  for (const auto& p : placements) pages += p.pages;
  EXPECT_EQ(pages, sharded.num_pages());
}

TEST(ShardPlacement, HeightShardedOn8x8BothOrientations) {
  // 64 shards of one tile row each.
  const TensorSpec spec(Shape{1, 1, 64 * 32, 64}, DataType::BFloat16, Layout::Tile);
  const CoreRangeSet grid(rect(0, 0, 7, 7));
  const auto row = shard_placements(spec.with_memory_config(height_sharded(spec, grid)));
  const auto col = shard_placements(
      spec.with_memory_config(height_sharded(spec, grid, ShardOrientation::ColMajor)));
  ASSERT_EQ(row.size(), 64u);
  ASSERT_EQ(col.size(), 64u);
  EXPECT_EQ(row[10].core, (CoreCoord{2, 1}));  // row by row
  EXPECT_EQ(col[10].core, (CoreCoord{1, 2}));  // column by column
  EXPECT_EQ(row[10].row_start, 320u);
  EXPECT_EQ(col[10].row_start, 320u);
  EXPECT_EQ(row[63].core, (CoreCoord{7, 7}));
  EXPECT_EQ(col[63].core, (CoreCoord{7, 7}));
  EXPECT_EQ(row[63].pages, 2u);
}

TEST(ShardPlacement, WidthShardedOn8x8BothOrientations) {
  // X 2000 -> 2016 padded = 63 tiles; 64 cores: ceil(2016/64) = 32 columns per shard, so 63
  // full shards and the 64th core empty.
  const TensorSpec spec(Shape{1, 1, 64, 2000}, DataType::BFloat16, Layout::Tile,
                        MemoryConfig::l1_interleaved());
  const CoreRangeSet grid(rect(0, 0, 7, 7));
  const TensorSpec row = spec.with_memory_config(width_sharded(spec, grid));
  EXPECT_EQ(row.shard_spec().shape, (std::array<std::uint32_t, 2>{64, 32}));
  const auto row_p = shard_placements(row);
  ASSERT_EQ(row_p.size(), 63u);
  EXPECT_EQ(row_p[9].core, (CoreCoord{1, 1}));
  EXPECT_EQ(row_p[9].col_start, 288u);
  EXPECT_EQ(row_p[9].shard_col, 9u);
  EXPECT_EQ(row_p[62].core, (CoreCoord{6, 7}));
  const auto col_p = shard_placements(
      spec.with_memory_config(width_sharded(spec, grid, ShardOrientation::ColMajor)));
  EXPECT_EQ(col_p[9].core, (CoreCoord{1, 1}));
  EXPECT_EQ(col_p[12].core, (CoreCoord{1, 4}));
  EXPECT_EQ(col_p[62].core, (CoreCoord{7, 6}));

  // 12 cores: ceil(2016/12) = 168 -> 192 columns -> 11 shards, the last 96 wide.
  const TensorSpec twelve = spec.with_memory_config(width_sharded(spec, 12, n300()));
  EXPECT_EQ(twelve.shard_spec().grid,
            CoreRangeSet(std::vector<CoreRange>{rect(0, 0, 7, 0), rect(0, 1, 3, 1)}));
  const auto p12 = shard_placements(twelve);
  ASSERT_EQ(p12.size(), 11u);
  EXPECT_EQ(p12[10].core, (CoreCoord{2, 1}));
  EXPECT_EQ(p12[10].col_start, 1920u);
  EXPECT_EQ(p12[10].cols, 96u);
  EXPECT_EQ(p12[10].pages, 2u * 3u);
}

TEST(ShardPlacement, BlockShardedOn8x8BothOrientations) {
  // 1024 x 2016 padded on 8x8: shard 128 x 256 (ceil(2016/8) = 252 -> 256); last column of
  // shards is 2016 - 7*256 = 224 wide.
  const TensorSpec spec(Shape{1, 1, 1000, 2000}, DataType::BFloat16, Layout::Tile);
  const TensorSpec row = spec.with_memory_config(block_sharded(spec, 8, 8));
  EXPECT_EQ(row.shard_spec().shape, (std::array<std::uint32_t, 2>{128, 256}));
  EXPECT_EQ(row.shards_along_height(), 8u);
  EXPECT_EQ(row.shards_along_width(), 8u);
  const auto rp = shard_placements(row);
  ASSERT_EQ(rp.size(), 64u);
  // Shard (row 1, col 2): ROW_MAJOR puts shard rows on grid rows.
  EXPECT_EQ(rp[10].shard_row, 1u);
  EXPECT_EQ(rp[10].shard_col, 2u);
  EXPECT_EQ(rp[10].core, (CoreCoord{2, 1}));
  EXPECT_EQ(rp[10].row_start, 128u);
  EXPECT_EQ(rp[10].col_start, 512u);
  EXPECT_EQ(rp[10].pages, 32u);
  EXPECT_EQ(rp[63].core, (CoreCoord{7, 7}));
  EXPECT_EQ(rp[63].cols, 224u);
  EXPECT_EQ(rp[63].pages, 4u * 7u);

  const TensorSpec col =
      spec.with_memory_config(block_sharded(spec, 8, 8, ShardOrientation::ColMajor));
  const auto cp = shard_placements(col);
  // COL_MAJOR: shard rows go along grid columns (x), shard columns along grid rows (y).
  EXPECT_EQ(cp[10].core, (CoreCoord{1, 2}));
  EXPECT_EQ(cp[10].shard_row, 1u);
  EXPECT_EQ(cp[10].shard_col, 2u);
  EXPECT_EQ(cp[63].pages, 28u);

  // Non-square grid 8 wide x 4 tall, COL_MAJOR: height over 8 columns, width over 4 rows.
  const TensorSpec rect_col =
      spec.with_memory_config(block_sharded(spec, 8, 4, ShardOrientation::ColMajor));
  EXPECT_EQ(rect_col.shard_spec().shape, (std::array<std::uint32_t, 2>{128, 512}));
  const auto rcp = shard_placements(rect_col);
  ASSERT_EQ(rcp.size(), 32u);
  EXPECT_EQ(rcp[5].core, (CoreCoord{1, 1}));  // shard row 1, shard col 1
  EXPECT_EQ(rcp[31].core, (CoreCoord{7, 3}));
  EXPECT_EQ(rcp[31].cols, 2016u - 3u * 512u);
}

TEST(ShardPlacement, RowMajorShardedPages) {
  // Width-sharded ROW_MAJOR: each row splits into one page per shard.
  const TensorSpec spec(Shape{1, 1, 10, 100}, DataType::BFloat16, Layout::RowMajor);
  const TensorSpec sharded =
      spec.with_memory_config(MemoryConfig(TensorMemoryLayout::WidthSharded, BufferType::L1,
                                           shard(CoreRangeSet(rect(0, 0, 3, 0)), 10, 32)));
  EXPECT_EQ(sharded.page_size_bytes(), 64u);
  EXPECT_EQ(sharded.num_pages(), 40u);
  const auto placements = shard_placements(sharded);
  ASSERT_EQ(placements.size(), 4u);
  EXPECT_EQ(placements[3].cols, 4u);
  EXPECT_EQ(placements[3].pages, 10u);
}

TEST(ShardPlacement, InterleavedSpecHasNoShards) {
  const TensorSpec spec(Shape{64, 64}, DataType::BFloat16, Layout::Tile);
  expect_error([&] { shard_placements(spec); }, {"interleaved", "no shard spec"});
}

// ---------------------------------------------------------------- interleaved banks, bytes

TEST(InterleavedBanks, DramBankMapping) {
  const TensorSpec spec(Shape{1, 1, 64, 30 * 32}, DataType::BFloat16, Layout::Tile);
  ASSERT_EQ(spec.num_pages(), 60u);
  EXPECT_EQ(num_interleaved_banks(BufferType::DRAM, n300()), 12u);
  EXPECT_EQ(interleaved_page_location(spec, 0, n300()), (BankPage{0, 0}));
  EXPECT_EQ(interleaved_page_location(spec, 25, n300()), (BankPage{1, 2}));
  EXPECT_EQ(interleaved_page_location(spec, 59, n300()), (BankPage{11, 4}));
  expect_error([&] { interleaved_page_location(spec, 60, n300()); }, {"page 60", "60 pages"});
  EXPECT_EQ(memory_footprint(spec, n300()), (BankFootprint{12, 5 * 2048}));
  EXPECT_EQ(dram_bytes_per_bank(spec, n300()), 10240u);
  EXPECT_EQ(l1_bytes_per_core(spec, n300()), 0u);
}

TEST(InterleavedBanks, L1BankMappingAndCores) {
  const TensorSpec spec(Shape{1, 1, 320, 320}, DataType::BFloat16, Layout::Tile,
                        MemoryConfig::l1_interleaved());
  ASSERT_EQ(spec.num_pages(), 100u);
  EXPECT_EQ(num_interleaved_banks(BufferType::L1, n300()), 64u);
  EXPECT_EQ(interleaved_page_location(spec, 70, n300()), (BankPage{6, 1}));
  EXPECT_EQ(l1_bank_core(6, n300()), (CoreCoord{6, 0}));
  EXPECT_EQ(l1_bank_core(13, n300()), (CoreCoord{5, 1}));
  EXPECT_EQ(l1_bank_core(63, n300()), (CoreCoord{7, 7}));
  expect_error([] { l1_bank_core(64, n300()); }, {"L1 bank 64", "64 L1 banks"});
  // ceil(100 / 64) = 2 pages per bank.
  EXPECT_EQ(l1_bytes_per_core(spec, n300()), 2u * 2048u);
}

TEST(InterleavedBanks, RowMajorPagesAreAligned) {
  const TensorSpec l1(Shape{1, 1, 19, 3}, DataType::BFloat16, Layout::RowMajor,
                      MemoryConfig::l1_interleaved());
  EXPECT_EQ(l1.page_size_bytes(), 6u);
  EXPECT_EQ(aligned_page_size(l1, n300()), n300().l1.alignment_bytes);
  const TensorSpec dram = l1.with_memory_config(MemoryConfig());
  EXPECT_EQ(aligned_page_size(dram, n300()),
            std::max(n300().dram.read_alignment_bytes, n300().dram.write_alignment_bytes));
}

TEST(ShardedFootprint, FootprintPerCore) {
  const TensorSpec spec(Shape{1, 1, 1000, 2000}, DataType::BFloat16, Layout::Tile);
  const TensorSpec block = spec.with_memory_config(block_sharded(spec, 8, 8));
  // Every grid core reserves a full 128 x 256 shard = 32 tiles.
  EXPECT_EQ(memory_footprint(block, n300()), (BankFootprint{64, 32u * 2048u}));
  EXPECT_EQ(l1_bytes_per_core(block, n300()), 65536u);
  EXPECT_EQ(dram_bytes_per_bank(block, n300()), 0u);
  EXPECT_NO_THROW(validate_for_device(block, n300()));
  expect_error([&] { interleaved_page_location(block, 0, n300()); }, {"is sharded"});
}

TEST(ShardedFootprint, DramWidthShardedWeights) {
  // A 4096 x 14336 BFLOAT8_B weight over the 12 DRAM banks: ceil(14336/12) = 1195 -> 1216.
  const TensorSpec weight(Shape{1, 1, 4096, 14336}, DataType::BFloat8_B, Layout::Tile);
  const MemoryConfig config = dram_width_sharded(weight, n300());
  EXPECT_EQ(to_string(config),
            "MemoryConfig(memory_layout=TensorMemoryLayout::WIDTH_SHARDED,buffer_type=BufferType::"
            "DRAM,shard_spec=ShardSpec(grid={[(x=0,y=0) - (x=11,y=0)]},shape={4096, 1216},"
            "orientation=ShardOrientation::ROW_MAJOR,mode=ShardMode::PHYSICAL,physical_shard_"
            "shape=std::nullopt),nd_shard_spec=std::nullopt,created_with_nd_shard_spec=0)");
  const TensorSpec sharded = weight.with_memory_config(config);
  EXPECT_NO_THROW(validate_for_device(sharded, n300()));
  const auto placements = shard_placements(sharded);
  ASSERT_EQ(placements.size(), 12u);
  EXPECT_EQ(placements[11].core, (CoreCoord{11, 0}));
  EXPECT_EQ(placements[11].cols, 14336u - 11u * 1216u);
  EXPECT_EQ(memory_footprint(sharded, n300()), (BankFootprint{12, 128u * 38u * 1088u}));
}

// ---------------------------------------------------------------- strings

TEST(MemoryStrings, EnumNames) {
  EXPECT_EQ(to_string(Layout::Tile), "TILE");
  EXPECT_EQ(to_string(Layout::RowMajor), "ROW_MAJOR");
  EXPECT_EQ(parse_layout("Layout.TILE"), Layout::Tile);
  EXPECT_EQ(parse_layout("Layout::ROW_MAJOR"), Layout::RowMajor);
  EXPECT_EQ(parse_layout("row_major"), Layout::RowMajor);
  EXPECT_FALSE(parse_layout("TILED"));
  EXPECT_EQ(parse_tensor_memory_layout("TensorMemoryLayout::BLOCK_SHARDED"),
            TensorMemoryLayout::BlockSharded);
  EXPECT_EQ(parse_buffer_type("ttnn.BufferType.L1"), BufferType::L1);
  EXPECT_FALSE(parse_buffer_type("L1_SMALL"));
  EXPECT_EQ(parse_shard_orientation("col_major"), ShardOrientation::ColMajor);
}

TEST(MemoryStrings, CsvMemoryColumn) {
  const TensorSpec spec(Shape{1, 1, 64 * 32, 64}, DataType::BFloat16, Layout::Tile);
  const MemoryConfig sharded = height_sharded(spec, CoreRangeSet(rect(0, 0, 7, 7)));
  EXPECT_EQ(csv_memory_column(sharded, 1), "DEV_1_L1_HEIGHT_SHARDED");
  EXPECT_EQ(csv_memory_column(MemoryConfig(), 0), "DEV_0_DRAM_INTERLEAVED");
  EXPECT_EQ(parse_memory_column("DEV_1_L1_HEIGHT_SHARDED"),
            (MemoryColumn{1, BufferType::L1, TensorMemoryLayout::HeightSharded}));
  EXPECT_EQ(parse_memory_column(" DEV_12_DRAM_WIDTH_SHARDED "),
            (MemoryColumn{12, BufferType::DRAM, TensorMemoryLayout::WidthSharded}));
  EXPECT_EQ(parse_memory_column("DEV_0_L1_BLOCK_SHARDED").layout, TensorMemoryLayout::BlockSharded);
  expect_error([] { parse_memory_column("DEVICE_0_L1_INTERLEAVED"); }, {"DEV_"});
  expect_error([] { parse_memory_column("DEV_x_L1_INTERLEAVED"); }, {"device id"});
  expect_error([] { parse_memory_column("DEV_0_L1_SMALL_INTERLEAVED"); }, {"buffer type"});
  expect_error([] { parse_memory_column("DEV_0_L1_ND_SHARDED"); }, {"ND_SHARDED"});
}

TEST(MemoryStrings, CsvShapeCells) {
  const TensorSpec spec(Shape{19, 19}, DataType::BFloat16, Layout::Tile);
  EXPECT_EQ(csv_shape_cells(spec),
            (std::array<std::string, 4>{"1[1]", "1[1]", "32[19]", "32[19]"}));
  EXPECT_EQ(parse_shape_cell("32[19]"), (ShapeCell{32, 19}));
  EXPECT_EQ(parse_shape_cell(" 491520[491520] "), (ShapeCell{491520, 491520}));
  EXPECT_EQ(parse_shape_cell("64"), (ShapeCell{64, 64}));  // V1 CSVs
  for (const char* bad : {"", "32[19", "[19]", "32]19[", "32[19]x", "a[1]"}) {
    expect_error([&] { parse_shape_cell(bad); }, {"PAD[LOGICAL]"});
  }
  // The halo output row of the tt-perf-report sample: W Z Y X = 1[1] 1[1] 491520[491520] 8[3].
  const CsvShape shape = parse_csv_shape({"1[1]", "1[1]", "491520[491520]", "8[3]"});
  EXPECT_EQ(shape.logical, (Shape{1, 1, 491520, 3}));
  EXPECT_EQ(shape.padded, (Shape{1, 1, 491520, 8}));
}

TEST(MemoryStrings, MemoryConfigPrintedForms) {
  EXPECT_EQ(
      to_string(MemoryConfig()),
      "MemoryConfig(memory_layout=TensorMemoryLayout::INTERLEAVED,buffer_type=BufferType::"
      "DRAM,shard_spec=std::nullopt,nd_shard_spec=std::nullopt,created_with_nd_shard_spec=0)");
  const MemoryConfig height(TensorMemoryLayout::HeightSharded, BufferType::L1,
                            shard(CoreRangeSet(rect(0, 0, 4, 3)), 24576, 8));
  EXPECT_EQ(to_string(height),
            "MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED,buffer_type=BufferType::"
            "L1,shard_spec=ShardSpec(grid={[(x=0,y=0) - (x=4,y=3)]},shape={24576, 8},orientation="
            "ShardOrientation::ROW_MAJOR,mode=ShardMode::PHYSICAL,physical_shard_shape=std::"
            "nullopt),nd_shard_spec=std::nullopt,created_with_nd_shard_spec=0)");
  EXPECT_EQ(to_csv_attribute_string(height),
            "MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED;buffer_type=BufferType::"
            "L1;shard_spec=ShardSpec(grid={[(x=0;y=0) - (x=4;y=3)]};shape={24576; 8};orientation="
            "ShardOrientation::ROW_MAJOR;mode=ShardMode::PHYSICAL;physical_shard_shape=std::"
            "nullopt);nd_shard_spec=std::nullopt;created_with_nd_shard_spec=0)");
  const CoreRangeSet two(std::vector<CoreRange>{rect(0, 0, 7, 6), rect(0, 7, 6, 7)});
  EXPECT_EQ(to_string(two), "{[(x=0,y=0) - (x=7,y=6)], [(x=0,y=7) - (x=6,y=7)]}");
}

// The ATTRIBUTES cell of InterleavedToShardedDeviceOperation in the ops_perf_results sample of
// tenstorrent/tt-perf-report tests/test_validate_csv_output.py (2025, ';' separators,
// mode=LOGICAL).
constexpr const char* kPerfReportSample =
    "MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED;buffer_type=BufferType::L1;"
    "shard_spec=ShardSpec(grid={[(x=0;y=0) - (x=4;y=3)]};shape={24576; 8};orientation="
    "ShardOrientation::ROW_MAJOR;mode=ShardMode::LOGICAL;physical_shard_shape={24576; 8});"
    "nd_shard_spec=std::nullopt;created_with_nd_shard_spec=0)";

TEST(MemoryStrings, ParsesTtPerfReportSampleAndPrintsItBack) {
  const MemoryConfig config = parse_memory_config_string(kPerfReportSample);
  EXPECT_EQ(config.layout(), TensorMemoryLayout::HeightSharded);
  EXPECT_EQ(config.buffer_type(), BufferType::L1);
  ASSERT_TRUE(config.shard_spec());
  const ShardSpec& spec = *config.shard_spec();
  EXPECT_EQ(spec.grid, CoreRangeSet(rect(0, 0, 4, 3)));
  EXPECT_EQ(spec.num_cores(), 20u);
  EXPECT_EQ(spec.shape, (std::array<std::uint32_t, 2>{24576, 8}));
  EXPECT_EQ(spec.mode, ShardMode::Logical);
  EXPECT_EQ(spec.physical_shard_shape, (std::array<std::uint32_t, 2>{24576, 8}));
  EXPECT_EQ(to_csv_attribute_string(config), kPerfReportSample);

  // The sample's output tensor: ROW_MAJOR BFLOAT16 [1,1,491520,3] padded to 8 values per row,
  // height-sharded 20 ways as in that row: 491520 / 24576 = 20 shards of 16-byte pages.
  const TensorSpec tensor(Shape{1, 1, 491520, 3}, Shape{1, 1, 491520, 8}, DataType::BFloat16,
                          Layout::RowMajor, config);
  EXPECT_EQ(tensor.page_size_bytes(), 16u);
  EXPECT_EQ(tensor.num_shards(), 20u);
  EXPECT_EQ(csv_memory_column(tensor.memory_config(), 1), "DEV_1_L1_HEIGHT_SHARDED");
  const auto placements = shard_placements(tensor);
  EXPECT_EQ(placements[19].core, (CoreCoord{4, 3}));
  EXPECT_EQ(placements[7].core, (CoreCoord{2, 1}));
  EXPECT_EQ(l1_bytes_per_core(tensor, n300()), 24576u * 16u);
}

TEST(MemoryStrings, ParsesOtherRealVariants) {
  // 2025 C++ print (tt-metal matmul test ids): ',' separators, nd_shard_spec fields; L1 and a
  // DRAM WIDTH_SHARDED config addressing DRAM banks.
  const MemoryConfig l1 = parse_memory_config_string(
      "MemoryConfig(memory_layout=TensorMemoryLayout::WIDTH_SHARDED,buffer_type=BufferType::L1,"
      "shard_spec=ShardSpec(grid={[(x=0,y=0) - (x=2,y=0)]},shape={32, 32},orientation="
      "ShardOrientation::ROW_MAJOR,mode=ShardMode::PHYSICAL,physical_shard_shape=std::nullopt),"
      "nd_shard_spec=std::nullopt,created_with_nd_shard_spec=0)");
  EXPECT_EQ(l1, MemoryConfig(TensorMemoryLayout::WidthSharded, BufferType::L1,
                             shard(CoreRangeSet(rect(0, 0, 2, 0)), 32, 32)));
  const MemoryConfig dram = parse_memory_config_string(
      "MemoryConfig(memory_layout=TensorMemoryLayout::WIDTH_SHARDED,buffer_type=BufferType::DRAM,"
      "shard_spec=ShardSpec(grid={[(x=0,y=0) - (x=2,y=0)]},shape={96, 32},orientation="
      "ShardOrientation::ROW_MAJOR,mode=ShardMode::PHYSICAL,physical_shard_shape=std::nullopt),"
      "nd_shard_spec=std::nullopt,created_with_nd_shard_spec=0)");
  EXPECT_TRUE(dram.is_dram());
  EXPECT_EQ(dram.shard_spec()->shape, (std::array<std::uint32_t, 2>{96, 32}));

  // Older print with halo=0 and no nd fields (ttnn-visualizer SQLite fixtures).
  const MemoryConfig block = parse_memory_config_string(
      "MemoryConfig(memory_layout=TensorMemoryLayout::BLOCK_SHARDED,buffer_type=BufferType::L1,"
      "shard_spec=ShardSpec(grid={[(x=0,y=0) - (x=2,y=1)]},shape={224, 64},orientation="
      "ShardOrientation::ROW_MAJOR,halo=0))");
  EXPECT_EQ(block, MemoryConfig(TensorMemoryLayout::BlockSharded, BufferType::L1,
                                shard(CoreRangeSet(rect(0, 0, 2, 1)), 224, 64)));
  EXPECT_EQ(parse_memory_config_string("MemoryConfig(memory_layout=TensorMemoryLayout::INTERLEAVED,"
                                       "buffer_type=BufferType::DRAM,shard_spec=std::nullopt)"),
            MemoryConfig());

  // Multi-range grid (a 63-core conv input in a tt-metal test comment).
  const MemoryConfig conv = parse_memory_config_string(
      "MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED,buffer_type=BufferType::L1,"
      "shard_spec=ShardSpec(grid={[(x=0,y=0) - (x=7,y=6)], [(x=0,y=7) - (x=6,y=7)]},shape={671, "
      "64},orientation=ShardOrientation::ROW_MAJOR,mode=ShardMode::PHYSICAL,physical_shard_shape="
      "std::nullopt))");
  EXPECT_EQ(conv.shard_spec()->grid.ranges().size(), 2u);
  EXPECT_EQ(conv.shard_spec()->num_cores(), 63u);

  // 2023 log format: tt::tt_metal:: prefixes, shard_grid/shard_shape names, " _ " ranges.
  const MemoryConfig old = parse_memory_config_string(
      "output_mem_config=tt::tt_metal::MemoryConfig(memory_layout=TensorMemoryLayout::"
      "HEIGHT_SHARDED;buffer_type=BufferType::L1;shard_spec=tt::tt_metal::ShardSpec(shard_grid={[("
      "x=0;y=0) _ (x=11;y=4)]; [(x=0;y=5) _ (x=5;y=5)]}; shard_shape={20; 64}; shard_orientation="
      "ShardOrientation::COL_MAJOR; halo=false)); output_dtype=DataType::BFLOAT16");
  ASSERT_TRUE(old.shard_spec());
  EXPECT_EQ(old.shard_spec()->grid,
            CoreRangeSet(std::vector<CoreRange>{rect(0, 0, 11, 4), rect(0, 5, 5, 5)}));
  EXPECT_EQ(old.shard_spec()->shape, (std::array<std::uint32_t, 2>{20, 64}));
  EXPECT_EQ(old.shard_spec()->orientation, ShardOrientation::ColMajor);

  // Quoted attribute value with bare enum names.
  const MemoryConfig bare = parse_memory_config_string(
      "'MemoryConfig(memory_layout=HEIGHT_SHARDED;buffer_type=L1;shard_spec=ShardSpec(grid={[(x=0;"
      "y=0) - (x=4;y=3)]};shape={24576;8};orientation=ROW_MAJOR))'");
  EXPECT_EQ(bare.shard_spec()->shape, (std::array<std::uint32_t, 2>{24576, 8}));

  // Newest form where only the ND shard spec is printed, as JSON.
  const MemoryConfig nd = parse_memory_config_string(
      "MemoryConfig(memory_layout=TensorMemoryLayout::WIDTH_SHARDED,buffer_type=BufferType::DRAM,"
      "shard_spec=std::nullopt,nd_shard_spec={\"shard_shape\":[1, 1, 32, 576],\"grid\":[{\"start\":"
      "{\"x\":0,\"y\":0},\"end\":{\"x\":7,\"y\":0}}],\"orientation\":\"ShardOrientation::ROW_"
      "MAJOR\","
      "\"shard_distribution_strategy\":\"ShardDistributionStrategy::ROUND_ROBIN_1D\"},created_with_"
      "nd_shard_spec=1)");
  EXPECT_EQ(nd, MemoryConfig(TensorMemoryLayout::WidthSharded, BufferType::DRAM,
                             shard(CoreRangeSet(rect(0, 0, 7, 0)), 32, 576)));
}

TEST(MemoryStrings, RejectsUnreadableMemoryConfigs) {
  expect_error([] { parse_memory_config_string("DRAM_MEMORY_CONFIG"); }, {"MemoryConfig(...)"});
  expect_error(
      [] {
        parse_memory_config_string("MemoryConfig(memory_layout=TensorMemoryLayout::INTERLEAVED");
      },
      {"unclosed"});
  expect_error(
      [] {
        parse_memory_config_string("MemoryConfig(memory_layout=TensorMemoryLayout::INTERLEAVED)");
      },
      {"no buffer_type"});
  expect_error(
      [] {
        parse_memory_config_string(
            "MemoryConfig(memory_layout=TensorMemoryLayout::ND_SHARDED,buffer_type=BufferType::"
            "DRAM,"
            "shard_spec=std::nullopt,nd_shard_spec=std::nullopt,created_with_nd_shard_spec=1)");
      },
      {"ND_SHARDED", "not modelled"});
  expect_error(
      [] {
        parse_memory_config_string(
            "MemoryConfig(memory_layout=TensorMemoryLayout::INTERLEAVED,buffer_type=BufferType::L1_"
            "SMALL,shard_spec=std::nullopt)");
      },
      {"L1_SMALL", "DRAM and L1"});
  expect_error(
      [] {
        parse_memory_config_string(
            "MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED,buffer_type=BufferType::"
            "L1,shard_spec=ShardSpec(shape={32, 32},orientation=ShardOrientation::ROW_MAJOR))");
      },
      {"no grid"});
  expect_error(
      [] {
        parse_memory_config_string(
            "MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED,buffer_type=BufferType::"
            "L1,shard_spec=std::nullopt)");
      },
      {"no ShardSpec"});
}

TEST(MemoryStrings, MemoryConfigRoundTrips) {
  const TensorSpec spec(Shape{1, 1, 1000, 2000}, DataType::BFloat16, Layout::Tile);
  ShardSpec logical = shard(CoreRangeSet(rect(0, 0, 4, 3)), 64, 64, ShardOrientation::ColMajor);
  logical.mode = ShardMode::Logical;
  logical.physical_shard_shape = std::array<std::uint32_t, 2>{64, 64};
  const MemoryConfig configs[] = {
      MemoryConfig(),
      MemoryConfig::l1_interleaved(),
      height_sharded(spec, 20, n300()),
      width_sharded(spec, 12, n300(), ShardOrientation::ColMajor),
      block_sharded(spec, 8, 8),
      block_sharded(spec, 4, 8, ShardOrientation::ColMajor),
      dram_width_sharded(spec, n300()),
      MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, logical),
  };
  for (const MemoryConfig& config : configs) {
    EXPECT_EQ(parse_memory_config_string(to_string(config)), config) << to_string(config);
    EXPECT_EQ(parse_memory_config_string(to_csv_attribute_string(config)), config)
        << to_csv_attribute_string(config);
  }
  const std::string column = csv_memory_column(configs[4], 0);
  const MemoryColumn parsed = parse_memory_column(column);
  EXPECT_EQ(parsed.layout, configs[4].layout());
  EXPECT_EQ(parsed.buffer_type, configs[4].buffer_type());
}

TEST(MemoryStrings, TensorSpecToString) {
  const TensorSpec spec(Shape{19, 19}, DataType::BFloat16, Layout::Tile);
  EXPECT_EQ(to_string(spec),
            "TensorSpec(logical_shape=Shape([19, 19]),padded_shape=Shape([32, 32]),dtype=BFLOAT16,"
            "layout=TILE,memory_config=" +
                to_string(MemoryConfig()) + ")");
}

// ---------------------------------------------------------------- tensors

TEST(TensorValues, FromLogicalPadsWithZeros) {
  const TensorSpec spec(Shape{2, 3}, DataType::BFloat16, Layout::Tile);
  const Tensor tensor = Tensor::from_logical(spec, {1, 2, 3, 4, 5, 6}, /*with_golden=*/true);
  ASSERT_TRUE(tensor.has_values());
  ASSERT_TRUE(tensor.has_golden());
  EXPECT_EQ(tensor.values().size(), 32u * 32u);
  EXPECT_EQ(tensor.at(0, 0, 1, 2), 6.0f);
  EXPECT_EQ(tensor.at(0, 0, 0, 1), 2.0f);
  EXPECT_EQ(tensor.offset(0, 0, 1, 0), 32u);
  EXPECT_EQ(tensor.at(0, 0, 0, 3), 0.0f);    // padding column
  EXPECT_EQ(tensor.at(0, 0, 31, 31), 0.0f);  // padding corner
  EXPECT_EQ(tensor.golden_at(0, 0, 1, 0), 4.0f);
  EXPECT_EQ(tensor.logical_values(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  expect_error([&] { tensor.at(0, 0, 32, 0); }, {"outside padded shape"});
  expect_error([&] { Tensor::from_logical(spec, {1, 2, 3}); }, {"3 logical values", "expected 6"});
}

TEST(TensorValues, FourDimOffsetsAndSharedBuffers) {
  const TensorSpec spec(Shape{2, 2, 3, 5}, DataType::Float32, Layout::RowMajor);
  Tensor a = Tensor::filled(spec, 1.5f);
  EXPECT_EQ(a.offset(1, 1, 2, 4), 59u);
  EXPECT_EQ(a.at(1, 0, 2, 3), 1.5f);
  const Tensor b = a;  // shares the buffer
  a.set(1, 1, 2, 4, -7.0f);
  EXPECT_EQ(b.at(1, 1, 2, 4), -7.0f);
  EXPECT_FALSE(b.has_golden());
  expect_error([&] { b.golden(); }, {"no golden values"});
  const Tensor with_ref = b.with_golden(std::make_shared<std::vector<float>>(60, 0.25f));
  EXPECT_EQ(with_ref.golden_at(0, 0, 0, 0), 0.25f);
  expect_error([&] { b.with_golden(std::make_shared<std::vector<float>>(59, 0.0f)); },
               {"59 floats", "needs 60"});
}

TEST(TensorValues, TimingOnlyTensorHasNoValues) {
  const Tensor tensor(TensorSpec(Shape{64, 64}, DataType::BFloat8_B, Layout::Tile));
  EXPECT_FALSE(tensor.has_values());
  expect_error([&] { tensor.values(); }, {"no values"});
  const Tensor zeros = Tensor::zeros(tensor.spec());
  EXPECT_EQ(zeros.values().size(), 4096u);
  const TensorSpec l1 = zeros.spec().with_memory_config(MemoryConfig::l1_interleaved());
  EXPECT_EQ(zeros.with_spec(l1).values_buffer(), zeros.values_buffer());
}

}  // namespace
}  // namespace wormsim::ops
