// `wormsim replay`: header versions, the ATTRIBUTES parser, the mapping of every op code the
// test profiles hold, unmapped reasons, summary statistics on known numbers, a round trip through
// wormsim's own ops_perf CSV, and the CLI (exit codes, --format json, --out read back).
//
// The profiles are tests/data/replay/*.csv (provenance of every row in its README.md).
#include "analysis/replay.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "analysis/calibration.hpp"
#include "analysis/ops_perf_csv.hpp"
#include "analysis/run_profile.hpp"
#include "ops/device.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"
#include "workloads/executor.hpp"
#include "workloads/models/model_builder.hpp"
#include "workloads/models/model_zoo.hpp"

namespace wormsim::analysis {
namespace {

using testing::n300;
using testing::TempDir;

std::filesystem::path replay_data(const std::string& name) {
  return std::filesystem::path(WORMSIM_TEST_DATA_DIR) / "replay" / name;
}

const OpsPerfFile& v21_file() {
  static const OpsPerfFile file = read_ops_perf_file(replay_data("clip_block_v2_1.csv"));
  return file;
}
const OpsPerfFile& v2_file() {
  static const OpsPerfFile file = read_ops_perf_file(replay_data("resnet_bert_ops_v2.csv"));
  return file;
}
const OpsPerfFile& v1_file() {
  static const OpsPerfFile file = read_ops_perf_file(replay_data("bert_ops_v1.csv"));
  return file;
}

// The row of `file` that starts on `line`.
ProfileOp row_at(const OpsPerfFile& file, std::size_t line) {
  for (std::size_t i = 0; i < file.table.rows.size(); ++i) {
    if (file.table.row_lines[i] == line) return read_profile_op(file, i);
  }
  ADD_FAILURE() << "no row on line " << line;
  return {};
}

MappedOp map_line(const OpsPerfFile& file, std::size_t line) {
  return map_profile_op(row_at(file, line), n300());
}

const ReplayRow& replay_row(const ReplayResult& result, std::size_t line) {
  for (const ReplayRow& r : result.rows) {
    if (r.line == line) return r;
  }
  ADD_FAILURE() << "no replay row on line " << line;
  return result.rows.front();
}

std::string joined(const std::vector<std::string>& notes) {
  std::string out;
  for (const auto& n : notes) out += n + "\n";
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string expect_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no wormsim::Error thrown";
  return "";
}

// ---- header versions and file checks ----

TEST(ReplayHeader, DetectsTheThreeVersions) {
  EXPECT_EQ(detect_ops_perf_header({"OP CODE", "INPUT_0_W", "INPUT_0_X"}),
            OpsPerfHeaderVersion::V1);
  EXPECT_EQ(detect_ops_perf_header({"OP CODE", "INPUT_0_W_PAD[LOGICAL]"}),
            OpsPerfHeaderVersion::V2);
  EXPECT_EQ(detect_ops_perf_header({"OP CODE", "DEVICE ARCH", "INPUT_0_W_PAD[LOGICAL]"}),
            OpsPerfHeaderVersion::V2_1);
  EXPECT_EQ(detect_ops_perf_header({"OP CODE", "AVAILABLE WORKER CORE COUNT"}),
            OpsPerfHeaderVersion::V2_1);
  EXPECT_EQ(to_string(OpsPerfHeaderVersion::V2_1), "v2.1");

  EXPECT_EQ(v1_file().version, OpsPerfHeaderVersion::V1);
  EXPECT_EQ(v2_file().version, OpsPerfHeaderVersion::V2);
  EXPECT_EQ(v21_file().version, OpsPerfHeaderVersion::V2_1);
  EXPECT_EQ(v21_file().input_columns.size(), 4u);
  EXPECT_EQ(v2_file().input_columns.size(), 3u);
  EXPECT_EQ(v1_file().output_columns.size(), 1u);
}

TEST(ReplayHeader, TtMetalV21HeaderHasEightInputAndThreeOutputGroups) {
  const std::string text = [] {
    std::ifstream in(std::filesystem::path(WORMSIM_TEST_DATA_DIR) / "tt_metal_ops_perf_header.csv");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }();
  const OpsPerfFile file = parse_ops_perf_text(text, "tt_metal_ops_perf_header.csv");
  EXPECT_EQ(file.version, OpsPerfHeaderVersion::V2_1);
  EXPECT_EQ(file.input_columns.size(), 8u);
  EXPECT_EQ(file.output_columns.size(), 3u);
  EXPECT_TRUE(file.table.rows.empty());
}

TEST(ReplayHeader, ByteOrderMarkAndQuotedCellsAreRead) {
  const std::string text =
      "\xEF\xBB\xBFOP CODE,OP TYPE,ATTRIBUTES,DEVICE KERNEL DURATION "
      "[ns],INPUT_0_W,INPUT_0_Z,INPUT_0_Y,INPUT_0_X,"
      "INPUT_0_LAYOUT,INPUT_0_DATATYPE,INPUT_0_MEMORY\n"
      "UnaryDeviceOperation,tt_dnn_device,\"{'op_chain': "
      "'{UnaryWithParam(op_type=UnaryOpType::RELU)}', "
      "'output_memory_config': "
      "'std::nullopt'}\",1500,1,1,64,64,TILE,BFLOAT16,DEV_0_DRAM_INTERLEAVED\n";
  const OpsPerfFile file = parse_ops_perf_text(text, "bom.csv");
  EXPECT_EQ(file.version, OpsPerfHeaderVersion::V1);
  const ProfileOp op = read_profile_op(file, 0);
  EXPECT_EQ(op.op_code, "UnaryDeviceOperation");
  EXPECT_EQ(op.line, 2u);
  EXPECT_EQ(map_profile_op(op, n300()).op, "relu");  // ',' separated dict as Python prints it
}

TEST(ReplayHeader, MissingColumnsNameTheColumnAndTheFix) {
  std::string e = expect_error([] {
    parse_ops_perf_text("OP CODE,OP TYPE,ATTRIBUTES\nMatmul,tt_dnn_device,{}\n", "x.csv");
  });
  EXPECT_TRUE(contains(e, "'DEVICE KERNEL DURATION [ns]'")) << e;
  EXPECT_TRUE(contains(e, "TT_METAL_DEVICE_PROFILER")) << e;
  e = expect_error([] {
    parse_ops_perf_text(
        "OP CODE,OP TYPE,ATTRIBUTES,DEVICE KERNEL DURATION [ns],INPUT_0_W_PAD[LOGICAL]\n", "y.csv");
  });
  EXPECT_TRUE(contains(e, "'INPUT_0_LAYOUT'")) << e;
  e = expect_error([] {
    parse_ops_perf_text("OP CODE,OP TYPE,ATTRIBUTES,DEVICE KERNEL DURATION [ns]\n", "z.csv");
  });
  EXPECT_TRUE(contains(e, "'INPUT_0_W'")) << e;  // v1 spelling: no _PAD[LOGICAL] column anywhere
  e = expect_error([] { read_ops_perf_file("/nonexistent/ops_perf_results.csv"); });
  EXPECT_TRUE(contains(e, "/nonexistent/ops_perf_results.csv")) << e;
}

// ---- the ATTRIBUTES cell ----

TEST(ReplayAttributes, ParsesTtMetalDicts) {
  const auto a = parse_op_attributes(
      "{'compute_kernel_config': "
      "'WormholeComputeKernelConfig(math_fidelity=HiFi4;math_approx_mode=0)'; "
      "'config_': 'SlidingWindowConfig(batch_size=1; input_hw=(56;56); padding=((1; 1); (1; 1)))'; "
      "'scale': '0.125'; 'worker_grid': '{[(x=0;y=0) - (x=7;y=7)]}'; 'empty': ''}");
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a.at("scale"), "0.125");
  EXPECT_EQ(a.at("worker_grid"), "{[(x=0;y=0) - (x=7;y=7)]}");
  EXPECT_EQ(a.at("config"),
            "SlidingWindowConfig(batch_size=1; input_hw=(56;56); padding=((1; 1); (1; 1)))");
  EXPECT_EQ(a.at("empty"), "");
  EXPECT_TRUE(parse_op_attributes("").empty());
  EXPECT_TRUE(parse_op_attributes("not a dict").empty());

  const PrintedStruct s = parse_printed_struct(a.at("config"));
  EXPECT_EQ(s.name, "SlidingWindowConfig");
  EXPECT_EQ(s.fields.at("input_hw"), "(56;56)");
  EXPECT_EQ(s.fields.at("padding"), "((1; 1); (1; 1))");
  const PrintedStruct c =
      parse_printed_struct("ComputeKernelConfig(math_fidelity=HiFi4,fp32_dest_acc_en=1)");
  EXPECT_EQ(c.fields.at("fp32_dest_acc_en"), "1");
  EXPECT_EQ(parse_printed_struct("SoftmaxDefaultProgramConfig()").name,
            "SoftmaxDefaultProgramConfig");
  EXPECT_TRUE(parse_printed_struct("std::nullopt").fields.empty());
}

// ---- mapping of each op code ----

TEST(ReplayMapping, MatmulWithA2DConfigAndDerivedShards) {
  const MappedOp m = map_line(v2_file(), 3);  // 1024^3 BF16 HiFi2, in0/out L1 block-sharded
  EXPECT_EQ(m.op, "matmul");
  const auto& pc = m.params.at("program_config");
  EXPECT_EQ(pc.at("kind"), "MatmulMultiCoreReuseMultiCastProgramConfig");
  EXPECT_EQ(pc.at("grid"), nlohmann::json({8, 8}));
  EXPECT_EQ(pc.at("in0_block_w"), 4);
  EXPECT_EQ(pc.at("per_core_M"), 4);
  EXPECT_EQ(m.params.at("math_fidelity"), "HiFi2");
  EXPECT_EQ(m.params.at("packer_l1_acc"), true);
  ASSERT_EQ(m.inputs.size(), 2u);
  const ops::MemoryConfig& in0 = m.inputs[0].memory_config();
  ASSERT_TRUE(in0.shard_spec());
  EXPECT_EQ(in0.layout(), ops::TensorMemoryLayout::BlockSharded);
  EXPECT_EQ(in0.shard_spec()->shape, (std::array<std::uint32_t, 2>{128, 128}));
  EXPECT_TRUE(m.inputs[1].memory_config().is_dram());
  EXPECT_TRUE(contains(m.params.at("output_memory").get<std::string>(), "BLOCK_SHARDED"));
  const std::string notes = joined(m.notes);
  EXPECT_TRUE(contains(notes, "output_mem_config attribute has no shard spec")) << notes;
  EXPECT_TRUE(contains(notes, "derived from the program config grid")) << notes;
}

TEST(ReplayMapping, OlderMatmulSpellings) {
  const MappedOp dashed = map_line(v1_file(), 2);  // compute_with_storage_grid_size=8-8
  EXPECT_EQ(dashed.params.at("program_config").at("grid"), nlohmann::json({8, 8}));
  EXPECT_EQ(dashed.params.at("output_dtype"), "BFLOAT8_B");
  const MappedOp one_d = map_line(v1_file(), 3);  // 1D, (x=8;y=4), fused GELU, width-sharded
  EXPECT_EQ(one_d.params.at("program_config").at("kind"),
            "MatmulMultiCoreReuseMultiCast1DProgramConfig");
  EXPECT_EQ(one_d.params.at("program_config").at("mcast_in0"), true);
  EXPECT_EQ(one_d.params.at("activation"), "gelu");
  EXPECT_EQ(one_d.params.at("math_fidelity"), "LoFi");
  EXPECT_EQ(one_d.inputs[0].memory_config().layout(), ops::TensorMemoryLayout::WidthSharded);
  EXPECT_EQ(one_d.inputs[0].memory_config().shard_spec()->num_cores(), 32u);
}

TEST(ReplayMapping, MatmulWithoutProgramConfigAndMinimalMatmul) {
  const MappedOp batched = map_line(v21_file(), 12);
  EXPECT_EQ(batched.op, "matmul");
  EXPECT_FALSE(batched.params.contains("program_config"));
  EXPECT_EQ(batched.inputs[1].logical_shape(), ops::Shape({1, 20, 64, 19}));
  EXPECT_EQ(batched.inputs[1].padded_shape(), ops::Shape({1, 20, 64, 32}));
  EXPECT_EQ(batched.params.at("fp32_dest_acc_en"), true);

  const MappedOp minimal = map_line(v21_file(), 7);
  EXPECT_EQ(minimal.op, "matmul");
  EXPECT_EQ(minimal.inputs.size(), 3u);  // with bias
  const auto& pc = minimal.params.at("program_config");
  EXPECT_EQ(pc.at("kind"), "2d");
  EXPECT_EQ(pc.at("in0_block_w"), 8);
  EXPECT_EQ(pc.at("per_core_N"), 5);  // 40 tiles over 8 columns
  EXPECT_EQ(pc.at("out_block_w"), 5);
  EXPECT_TRUE(contains(joined(minimal.notes), "MinimalMatmulOp simulated as"));
}

TEST(ReplayMapping, EltwiseOps) {
  const MappedOp add = map_line(v21_file(), 5);
  EXPECT_EQ(add.op, "add");
  EXPECT_EQ(add.params.at("math_fidelity"), "HiFi4");  // compute_kernel_config is std::nullopt
  const MappedOp scalar = map_line(v21_file(), 8);
  EXPECT_EQ(scalar.op, "mul");
  ASSERT_EQ(scalar.inputs.size(), 2u);
  EXPECT_EQ(scalar.inputs[1].logical_shape(), ops::Shape({1, 1, 1, 1}));
  const MappedOp old_add = map_line(v1_file(), 6);  // BinaryDeviceOperation
  EXPECT_EQ(old_add.op, "add");

  const MappedOp gelu = map_line(v21_file(), 14);
  EXPECT_EQ(gelu.op, "gelu");
  const MappedOp relu = map_line(v2_file(), 7);  // block-sharded in and out
  EXPECT_EQ(relu.op, "relu");
  EXPECT_EQ(relu.inputs[0].memory_config().shard_spec()->shape,
            (std::array<std::uint32_t, 2>{128, 128}));
  EXPECT_TRUE(contains(joined(relu.notes), "taken from the op's output memory config"));
}

TEST(ReplayMapping, NormsAndSoftmax) {
  const MappedOp ln = map_line(v21_file(), 6);
  EXPECT_EQ(ln.op, "layernorm");
  EXPECT_DOUBLE_EQ(ln.params.at("epsilon").get<double>(), 1e-5);
  ASSERT_EQ(ln.inputs.size(), 3u);
  EXPECT_EQ(ln.inputs[1].logical_shape(), ops::Shape({1, 1, 1, 1280}));
  const MappedOp ln_v1 = map_line(v1_file(), 4);  // gamma ROW_MAJOR [1, 1, 32, 32]
  EXPECT_EQ(ln_v1.inputs[1].logical_shape(), ops::Shape({1, 1, 1, 1024}));
  EXPECT_EQ(ln_v1.inputs[1].layout(), ops::Layout::Tile);
  EXPECT_TRUE(contains(joined(ln_v1.notes), "read as gamma/beta TILE"));

  const MappedOp sm = map_line(v21_file(), 13);
  EXPECT_EQ(sm.op, "softmax");
  EXPECT_FALSE(sm.params.contains("scale"));  // std::nullopt
  EXPECT_EQ(sm.params.at("numeric_stable"), true);
  const MappedOp sm_v1 = map_line(v1_file(), 5);
  EXPECT_DOUBLE_EQ(sm_v1.params.at("scale").get<double>(), 0.125);
  EXPECT_EQ(sm_v1.params.at("inplace"), true);
}

TEST(ReplayMapping, DataMovementOps) {
  const MappedOp hc = map_line(v21_file(), 10);
  EXPECT_EQ(hc.op, "transpose");
  EXPECT_EQ(hc.params.at("dim0"), 1);
  EXPECT_EQ(hc.params.at("dim1"), 2);
  const MappedOp wh = map_line(v21_file(), 11);
  EXPECT_EQ(wh.params.at("dim0"), -2);

  const MappedOp reshape = map_line(v21_file(), 9);
  EXPECT_EQ(reshape.op, "reshape");
  EXPECT_EQ(reshape.params.at("shape"), nlohmann::json({1, 19, 20, 64}));

  const MappedOp tilize_pad = map_line(v21_file(), 4);
  EXPECT_EQ(tilize_pad.op, "tilize_with_val_padding");
  EXPECT_EQ(tilize_pad.params.at("output_padded_shape"), nlohmann::json({1, 1, 32, 1280}));
  EXPECT_EQ(map_line(v2_file(), 10).op, "tilize");
  EXPECT_EQ(map_line(v2_file(), 11).op, "untilize");

  const MappedOp i2s = map_line(v2_file(), 6);
  EXPECT_EQ(i2s.op, "interleaved_to_sharded");
  const ops::MemoryConfig out =
      ops::parse_memory_config_string(i2s.params.at("output_memory").get<std::string>());
  EXPECT_EQ(out.layout(), ops::TensorMemoryLayout::BlockSharded);
  EXPECT_EQ(out.shard_spec()->shape, (std::array<std::uint32_t, 2>{128, 128}));
  const MappedOp s2i = map_line(v2_file(), 8);
  EXPECT_EQ(s2i.op, "sharded_to_interleaved");
  EXPECT_TRUE(contains(joined(s2i.notes), "derived from CORE COUNT 64"));
  const MappedOp move = map_line(v2_file(), 9);
  EXPECT_EQ(move.op, "move");
  EXPECT_TRUE(
      ops::parse_memory_config_string(move.params.at("output_memory").get<std::string>()).is_l1());

  const MappedOp emb = map_line(v21_file(), 3);
  EXPECT_EQ(emb.op, "embedding");
  EXPECT_EQ(emb.inputs[0].logical_shape(), ops::Shape({1, 1, 1, 19}));
  EXPECT_EQ(emb.inputs[0].layout(), ops::Layout::RowMajor);
  EXPECT_EQ(emb.params.at("layout"), "ROW_MAJOR");
  EXPECT_EQ(map_line(v1_file(), 9).params.at("layout"), "TILE");  // tilized: true
}

TEST(ReplayMapping, AttentionConvAndHalo) {
  const MappedOp sdpa = map_line(v2_file(), 14);
  EXPECT_EQ(sdpa.op, "scaled_dot_product_attention");
  EXPECT_EQ(sdpa.params.at("q_chunk_size"), 128);
  EXPECT_EQ(sdpa.params.at("is_causal"), false);
  EXPECT_DOUBLE_EQ(sdpa.params.at("scale").get<double>(), 0.125);
  EXPECT_EQ(sdpa.params.at("math_fidelity"), "HiFi2");

  const MappedOp conv = map_line(v2_file(), 13);
  EXPECT_EQ(conv.op, "conv2d");
  EXPECT_EQ(conv.params.at("kernel_size"), nlohmann::json({3, 3}));
  EXPECT_EQ(conv.params.at("padding"), nlohmann::json({1, 1, 1, 1}));
  EXPECT_EQ(conv.params.at("out_channels"), 64);
  EXPECT_EQ(conv.params.at("activation"), "relu");
  EXPECT_EQ(conv.params.at("math_fidelity"), "LoFi");
  ASSERT_EQ(conv.inputs.size(), 3u);
  EXPECT_EQ(conv.inputs[0].logical_shape(),
            ops::Shape({1, 1, 3136, 64}));  // NHWC, not the halo output
  EXPECT_EQ(conv.inputs[0].memory_config().shard_spec()->num_cores(), 64u);
  EXPECT_EQ(conv.inputs[1].logical_shape(), ops::Shape({1, 1, 576, 64}));
  EXPECT_TRUE(contains(joined(conv.notes), "separate HaloDeviceOperation row"));

  const MappedOp halo = map_line(v2_file(), 12);
  EXPECT_EQ(halo.op, "halo");
  EXPECT_EQ(halo.params.at("input_height"), 56);
  EXPECT_EQ(halo.params.at("output_tile_aligned"), true);
  EXPECT_EQ(halo.inputs[0].memory_config().shard_spec()->shape,
            (std::array<std::uint32_t, 2>{49, 64}));
}

// tt-metal's padded_slice row: an [N, H, W, C] input, rows [2, 6) of every image.
TEST(ReplayMapping, PaddedSliceOfAnNhwcInput) {
  ProfileOp op = row_at(v21_file(), 16);
  op.op_code = "PaddedSliceDeviceOperation";
  op.attributes = "{'padded_slice_start': '[0, 2, 0, 0]'; 'padded_slice_end': '[2, 6, 16, -1]'}";
  op.inputs.resize(1);
  op.inputs[0].logical = ops::Shape({2, 8, 16, 32});
  op.inputs[0].padded = op.inputs[0].logical;
  op.inputs[0].layout = ops::Layout::RowMajor;
  op.inputs[0].memory = ops::parse_memory_column("DEV_0_DRAM_INTERLEAVED");
  const MappedOp m = map_profile_op(op, n300());
  EXPECT_EQ(m.op, "padded_slice");
  EXPECT_EQ(m.params.at("rows"), nlohmann::json({2, 6}));
  EXPECT_EQ(m.params.at("input_height"), 8);
  EXPECT_EQ(m.inputs.at(0).logical_shape(), ops::Shape({1, 1, 2 * 8 * 16, 32}));
  EXPECT_TRUE(contains(joined(m.notes), "taken as its NHWC rows"));
  op.attributes = "{'padded_slice_start': '[0, 2, 4, 0]'; 'padded_slice_end': '[2, 6, 16, -1]'}";
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }),
                       "cuts whole image rows of every image only"));
  // A flat input needs the image size from wormsim's input_nhw attribute.
  op.inputs[0].logical = op.inputs[0].padded = ops::Shape({1, 1, 2 * 8 * 16, 32});
  op.attributes = "{'padded_slice_start': '[0, 2, 0, 0]'; 'padded_slice_end': '[2, 6, 16, -1]'}";
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }),
                       "without input_nhw: the image size is unknown"));
  op.attributes = "{'input_nhw': '[2, 8, 16]'; " + op.attributes.substr(1);
  EXPECT_EQ(map_profile_op(op, n300()).params.at("rows"), nlohmann::json({2, 6}));
  op.attributes =
      "{'input_nhw': '[2, 9, 16]'; 'padded_slice_start': '[0, 2, 0, 0]'; "
      "'padded_slice_end': '[2, 6, 16, -1]'}";
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }),
                       "does not hold the 2 x 9 x 16 images"));
}

// Every mapped op of every profile builds as a wormsim op (the simulation is checked below).
TEST(ReplayMapping, EveryMappedRowBuilds) {
  std::set<std::string> codes;
  for (const OpsPerfFile* file : {&v1_file(), &v2_file(), &v21_file()}) {
    for (std::size_t i = 0; i < file->table.rows.size(); ++i) {
      const ProfileOp op = read_profile_op(*file, i);
      if (op.op_type != "tt_dnn_device") continue;
      try {
        const MappedOp m = map_profile_op(op, n300());
        EXPECT_NO_THROW(ops::make_operation(m.op, m.params, m.inputs, n300()))
            << op.op_code << " line " << op.line;
        codes.insert(op.op_code);
      } catch (const UnmappableOp&) {
      }
    }
  }
  // At least ten op codes of the list map.
  EXPECT_GE(codes.size(), 18u);
}

// ---- unmapped reasons ----

TEST(ReplayUnmapped, ReasonsAreSpecific) {
  auto reason = [](const OpsPerfFile& file, std::size_t line) {
    return expect_error([&] { map_line(file, line); });
  };
  EXPECT_EQ(reason(v21_file(), 16), "no wormsim op for OP CODE ArgMaxDeviceOperation");
  // An op code wormsim has an op for, but replay does not map yet, says so.
  ProfileOp unmapped_code = row_at(v21_file(), 16);
  unmapped_code.op_code = "UpsampleOperation";
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(unmapped_code, n300()); }),
                       "replay does not map UpsampleOperation rows yet (wormsim's 'upsample' op"));
  // tt-metal's slice_write writes one band per row into a preallocated tensor.
  ProfileOp one_band = row_at(v21_file(), 16);
  one_band.op_code = "SliceWriteDeviceOperation";
  one_band.attributes = "{'slice_start': '[0, 0, 0, 0]'; 'slice_end': '[2, 8, 16, 32]'}";
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(one_band, n300()); }),
                       "a slice_write of one band into a preallocated tensor"));
  EXPECT_TRUE(contains(reason(v2_file(), 15), "op chain of 2 functions (MUL_UNARY_SFPU, EXP)"));

  ProfileOp op = row_at(v21_file(), 5);
  op.device_arch = "blackhole";
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }),
                       "wormsim simulates Wormhole only"));
  op = row_at(v21_file(), 5);
  op.attributes = "{'binary_op_type': 'BinaryOpType::GT'}";
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }),
                       "BinaryOpType::GT has no wormsim op"));
  op = row_at(v21_file(), 5);
  op.inputs[0].memory = ops::parse_memory_column("DEV_0_DRAM_HEIGHT_SHARDED");
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }), "DRAM HEIGHT_SHARDED"));
  op = row_at(v21_file(), 6);
  op.inputs[1] = op.inputs[0];  // a residual input shaped like x
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }), "fused residual add"));
  op = row_at(v21_file(), 11);
  op.inputs.clear();
  EXPECT_TRUE(contains(expect_error([&] { map_profile_op(op, n300()); }),
                       "needs input 0 but the row has 0"));
}

TEST(ReplayUnmapped, UnreadableCellsAndMissingDurations) {
  const std::string header =
      "OP CODE,OP TYPE,ATTRIBUTES,CORE COUNT,DEVICE KERNEL DURATION "
      "[ns],INPUT_0_W_PAD[LOGICAL],INPUT_0_Z_PAD[LOGICAL],"
      "INPUT_0_Y_PAD[LOGICAL],INPUT_0_X_PAD[LOGICAL],INPUT_0_LAYOUT,INPUT_0_DATATYPE,INPUT_0_"
      "MEMORY\n";
  const std::string rows =
      "MoveDeviceOperation,tt_dnn_device,{},64,1000,1[1],1[1],32x[32],32[32],TILE,BFLOAT16,DEV_0_"
      "DRAM_INTERLEAVED\n"
      "MoveDeviceOperation,tt_dnn_device,{},64,1000,1[1],1[1],32[32],32[32],TILE,BFLOAT17,DEV_0_"
      "DRAM_INTERLEAVED\n"
      "MoveDeviceOperation,tt_dnn_device,{},64,1000,1[1],1[1],32[32],32[32],TILE,BFLOAT16,DEV_0_L1_"
      "SMALL_INTERLEAVED\n"
      "MoveDeviceOperation,tt_dnn_device,{},64,abc,1[1],1[1],32[32],32[32],TILE,BFLOAT16,DEV_0_"
      "DRAM_INTERLEAVED\n"
      "MoveDeviceOperation,tt_dnn_device,{},64,1000,1[1],1[1],32[32],32[32],TILE,BFLOAT16,DEV_0_"
      "DRAM_INTERLEAVED\n"
      "signpost_a,signpost,,,,,,,,,,\n";
  const ReplayResult r = replay_ops_perf(parse_ops_perf_text(header + rows, "bad.csv"), n300());
  ASSERT_EQ(r.rows.size(), 6u);
  EXPECT_TRUE(contains(r.rows[0].note, "cannot read the row: INPUT_0 shape")) << r.rows[0].note;
  EXPECT_TRUE(contains(r.rows[1].note, "INPUT_0_DATATYPE 'BFLOAT17'")) << r.rows[1].note;
  EXPECT_TRUE(contains(r.rows[2].note, "INPUT_0_MEMORY")) << r.rows[2].note;
  EXPECT_TRUE(contains(r.rows[3].note, "DEVICE KERNEL DURATION [ns] cell 'abc' is not a number"))
      << r.rows[3].note;
  // No output memory config and no OUTPUT_0 group: the destination is unknown.
  EXPECT_TRUE(contains(r.rows[4].note, "gives the destination")) << r.rows[4].note;
  EXPECT_EQ(r.rows[5].status, ReplayStatus::Skipped);
  EXPECT_EQ(r.summary.unmapped, 5u);
  EXPECT_EQ(r.summary.skipped, 1u);
  EXPECT_EQ(r.summary.mapped, 0u);
  EXPECT_EQ(r.rows[4].line, 6u);
}

// ---- summary statistics ----

TEST(ReplaySummary, KnownNumbers) {
  auto mapped = [](const std::string& code, double measured, double simulated) {
    ReplayRow r;
    r.op_code = code;
    r.op_type = "tt_dnn_device";
    r.status = ReplayStatus::Mapped;
    r.measured_ns = measured;
    r.simulated_ns = simulated;
    r.error_pct = (simulated - measured) / measured * 100.0;
    return r;
  };
  std::vector<ReplayRow> rows = {mapped("A", 100, 110), mapped("A", 100, 80), mapped("A", 100, 130),
                                 mapped("A", 100, 140), mapped("B", 200, 150)};
  ReplayRow unmapped;
  unmapped.op_code = "B";
  unmapped.op_type = "tt_dnn_device";
  unmapped.status = ReplayStatus::Unmapped;
  ReplayRow skipped;
  skipped.op_type = "signpost";
  skipped.status = ReplayStatus::Skipped;
  rows.push_back(unmapped);
  rows.push_back(skipped);
  rows.push_back(skipped);

  const ReplaySummary s = summarise_replay(rows);
  EXPECT_EQ(s.rows, 8u);
  EXPECT_EQ(s.mapped, 5u);
  EXPECT_EQ(s.unmapped, 1u);
  EXPECT_EQ(s.skipped, 2u);
  EXPECT_EQ(s.skipped_by_op_type.at("signpost"), 2u);
  // |errors| 10, 20, 30, 40, 25 -> sorted 10 20 25 30 40: median 25, p90 at rank 3.6 -> 30 + 0.6
  // * 10.
  EXPECT_NEAR(s.median_abs_pct, 25.0, 1e-9);
  EXPECT_NEAR(s.p90_abs_pct, 36.0, 1e-9);
  EXPECT_NEAR(s.max_abs_pct, 40.0, 1e-9);
  ASSERT_EQ(s.by_op.size(), 2u);
  EXPECT_EQ(s.by_op[0].op_code, "A");
  EXPECT_EQ(s.by_op[0].count, 4u);
  EXPECT_NEAR(s.by_op[0].median_abs_pct, 25.0, 1e-9);  // 10 20 30 40
  EXPECT_NEAR(s.by_op[0].p90_abs_pct, 37.0, 1e-9);     // rank 2.7 -> 30 + 0.7 * 10
  EXPECT_EQ(s.by_op[1].op_code, "B");
  EXPECT_EQ(s.by_op[1].count, 1u);
  EXPECT_EQ(s.by_op[1].unmapped, 1u);
  EXPECT_NEAR(s.by_op[1].median_abs_pct, 25.0, 1e-9);
}

// ---- replaying the profiles ----

TEST(ReplayFiles, CountsAndErrorsAreConsistent) {
  struct Expected {
    const OpsPerfFile* file;
    std::size_t rows, mapped, unmapped, skipped;
  };
  for (const Expected& e : {Expected{&v21_file(), 16, 12, 1, 3}, Expected{&v2_file(), 14, 13, 1, 0},
                            Expected{&v1_file(), 8, 7, 1, 0}}) {
    const ReplayResult r = replay_ops_perf(*e.file, n300());
    SCOPED_TRACE(e.file->table.path.string());
    EXPECT_EQ(r.summary.rows, e.rows);
    EXPECT_EQ(r.summary.mapped, e.mapped);
    EXPECT_EQ(r.summary.unmapped, e.unmapped);
    EXPECT_EQ(r.summary.skipped, e.skipped);
    std::vector<double> errors;
    for (const ReplayRow& row : r.rows) {
      if (row.status != ReplayStatus::Mapped) continue;
      ASSERT_TRUE(row.simulated_ns && row.measured_ns && row.error_pct);
      EXPECT_GT(*row.simulated_ns, 0);
      EXPECT_NEAR(*row.error_pct, (*row.simulated_ns - *row.measured_ns) / *row.measured_ns * 100,
                  1e-9);
      errors.push_back(std::fabs(*row.error_pct));
    }
    EXPECT_NEAR(r.summary.median_abs_pct, percentile(errors, 0.5), 1e-9);
    EXPECT_NEAR(r.summary.p90_abs_pct, percentile(errors, 0.9), 1e-9);
  }
  // The v2 matmul rows are calibration rows: the same simulation as `wormsim calibrate` (whose
  // 1024^3 BF16 HiFi4 row is the docs/accuracy.md figure 43332 cycles).
  const ReplayResult v2 = replay_ops_perf(v2_file(), n300());
  EXPECT_NEAR(*replay_row(v2, 4).simulated_ns, 43332, 0.5);
  const ReplayResult v1 = replay_ops_perf(v1_file(), n300());
  EXPECT_EQ(replay_row(v1, 8).status, ReplayStatus::Unmapped);
  EXPECT_TRUE(contains(replay_row(v1, 8).note, "is empty or zero: nothing to compare with"));
  EXPECT_TRUE(replay_row(v1, 8).simulated_ns.has_value());
}

// wormsim's own ops_perf CSV replayed: every op maps and runs again, in isolation, in about the
// time it took inside the model (isolated ops start from an idle device, so allow a little).
// The ops_perf CSV wormsim writes for a timing-only run of a reduced zoo model.
std::string own_profile_csv(const std::string& model, const workloads::ModelOptions& options) {
  const workloads::Graph graph = workloads::build_model(model, options, n300());
  ops::Device device(n300());
  workloads::ExecutorOptions exec;
  exec.numerics = false;
  const workloads::GraphRun run = workloads::run_graph(device, graph, exec);
  return format_ops_perf_csv(ops_perf_table(build_profile(n300(), {{&run, nullptr}})));
}

TEST(ReplayFiles, RoundTripOfWormsimsOwnProfile) {
  workloads::ModelOptions options;
  options.batch = 1;
  options.resolution = 64;
  options.layers = 1;
  const std::string csv = own_profile_csv("bert-large", options);
  const ReplayResult r = replay_ops_perf(parse_ops_perf_text(csv, "wormsim_bert.csv"), n300());
  EXPECT_EQ(r.header, OpsPerfHeaderVersion::V2_1);
  ASSERT_GT(r.summary.rows, 10u);
  std::string unmapped;
  for (const ReplayRow& row : r.rows) {
    if (row.status != ReplayStatus::Mapped) unmapped += row.op_code + ": " + row.note + "\n";
  }
  EXPECT_EQ(unmapped, "");
  RecordProperty("mapped", static_cast<int>(r.summary.mapped));
  RecordProperty("median_abs_pct", std::to_string(r.summary.median_abs_pct));
  RecordProperty("p90_abs_pct", std::to_string(r.summary.p90_abs_pct));
  EXPECT_LT(r.summary.median_abs_pct, 5.0);
}

// DPT's transposed convs print is_transpose=true in their SlidingWindowConfig; replay maps them
// back to conv_transpose2d (not to a conv2d over the unspread input) and simulates the same time.
TEST(ReplayFiles, TransposedConvRowsRoundTrip) {
  workloads::ModelOptions options;
  options.resolution = 64;
  options.layers = 1;
  const std::string csv = own_profile_csv("dpt-large", options);
  const ReplayResult r = replay_ops_perf(parse_ops_perf_text(csv, "wormsim_dpt.csv"), n300());
  std::size_t transposed = 0;
  for (const ReplayRow& row : r.rows) {
    if (row.wormsim_op != "conv_transpose2d") continue;
    ++transposed;
    EXPECT_EQ(row.status, ReplayStatus::Mapped) << row.note;
    ASSERT_TRUE(row.error_pct.has_value()) << row.note;
    EXPECT_LT(std::abs(*row.error_pct), 5.0) << "line " << row.line << ": " << row.note;
  }
  EXPECT_EQ(transposed, 2u);  // the x4 and x2 reassemble resizes
}

// A conv too large for L1 runs DRAM-sliced: its padded_slice and slice_write rows map back to
// those ops and simulate the same time. (A card with little L1 makes a small conv slice.)
TEST(ReplayFiles, ConvDramSlicingRowsRoundTrip) {
  arch::DeviceSpec small = arch::load_device_spec_by_name("n300");
  small.l1.usable_bytes = 64 * 1024;
  workloads::Graph graph("sliced_conv", small);
  workloads::ModelOptions options;
  options.batch = 2;
  workloads::models::ModelBuilder b(graph, options);
  workloads::models::FeatureMap x{0, 2, 160, 128, 16};
  x.id = b.input("images", ops::Shape({1, 1, 2 * 160 * 128, 16}), ops::Layout::Tile,
                 ops::DataType::BFloat16);
  graph.mark_output(
      b.conv("conv", x, 16, workloads::models::ConvOptions{3, 1, 1, 1, true, ""}, "body").id);
  ops::Device device(small);
  workloads::ExecutorOptions exec;
  exec.numerics = false;
  const workloads::GraphRun run = workloads::run_graph(device, graph, exec);
  const std::string csv =
      format_ops_perf_csv(ops_perf_table(build_profile(small, {{&run, nullptr}})));
  const ReplayResult r = replay_ops_perf(parse_ops_perf_text(csv, "sliced.csv"), small);
  std::map<std::string, std::size_t> mapped;
  for (const ReplayRow& row : r.rows) {
    if (row.op_code != "PaddedSliceDeviceOperation" && row.op_code != "SliceWriteDeviceOperation")
      continue;
    EXPECT_EQ(row.status, ReplayStatus::Mapped) << row.op_code << ": " << row.note;
    ASSERT_TRUE(row.error_pct.has_value()) << row.note;
    EXPECT_LT(std::abs(*row.error_pct), 5.0) << row.op_code << " line " << row.line;
    ++mapped[row.wormsim_op];
  }
  EXPECT_GE(mapped["padded_slice"], 2u);
  EXPECT_EQ(mapped["slice_write"], 1u);
}

// ---- the command line ----

struct CliResult {
  int status{-1};
  std::string out;
};

CliResult wormsim(const std::string& args) {
  const std::string command = std::string("'") + WORMSIM_BINARY + "' " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  CliResult result;
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(ReplayCli, TableJsonAndOutFile) {
  const TempDir dir("replay_cli");
  const std::string profile = replay_data("resnet_bert_ops_v2.csv").string();
  const CliResult table = wormsim("replay '" + profile + "'");
  ASSERT_EQ(table.status, 0) << table.out;
  EXPECT_TRUE(contains(table.out, "(header v2)")) << table.out;
  EXPECT_TRUE(contains(table.out, "op chain of 2 functions")) << table.out;

  const std::filesystem::path out = dir / "compare.csv";
  const CliResult json =
      wormsim("replay '" + profile + "' --format json --out '" + out.string() + "'");
  ASSERT_EQ(json.status, 0) << json.out;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  for (const char* key : {"mapped", "unmapped", "median_abs_pct_err", "p90_abs_pct_err", "by_op",
                          "unmapped_ops", "header_version"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["header_version"], "v2");
  EXPECT_EQ(j["mapped"], 13);
  EXPECT_EQ(j["unmapped"], 1);
  EXPECT_EQ(j["by_op"]["Matmul"]["count"], 4);
  EXPECT_EQ(j["unmapped_ops"][0]["line"], 15);

  const CsvTable back = read_csv(out);
  ASSERT_EQ(back.rows.size(), 14u);
  EXPECT_EQ(back.header.front(), "LINE");
  std::vector<double> errors;
  for (const auto& row : back.rows) {
    if (row[back.column("STATUS")] != "mapped") continue;
    const double measured = std::stod(row[back.column("MEASURED DEVICE KERNEL DURATION [ns]")]);
    const double simulated = std::stod(row[back.column("SIMULATED DEVICE KERNEL DURATION [ns]")]);
    EXPECT_NEAR(std::stod(row[back.column("ERROR (%)")]), (simulated - measured) / measured * 100,
                0.01);
    errors.push_back(std::fabs(std::stod(row[back.column("ERROR (%)")])));
  }
  EXPECT_EQ(errors.size(), 13u);
  EXPECT_NEAR(j["median_abs_pct_err"].get<double>(), percentile(errors, 0.5), 0.01);
  EXPECT_EQ(back.rows[13][back.column("STATUS")], "unmapped");
  EXPECT_EQ(back.rows[13][back.column("LINE")], "15");
}

TEST(ReplayCli, BadInputsExitNonZeroWithoutOutput) {
  const TempDir dir("replay_cli_bad");
  const std::filesystem::path out = dir / "compare.csv";
  CliResult r = wormsim("replay /nonexistent/profile.csv --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.out, "/nonexistent/profile.csv")) << r.out;

  const std::filesystem::path binary = dir / "binary.csv";
  std::ofstream(binary, std::ios::binary) << std::string("\x00\x01\x02PK", 5);
  r = wormsim("replay '" + binary.string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.out, "not a CSV")) << r.out;

  const std::filesystem::path json = dir / "report.json";
  std::ofstream(json) << "{\"ops\": []}\n";
  r = wormsim("replay '" + json.string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 2) << r.out;
  const std::filesystem::path text = dir / "notes.txt";
  std::ofstream(text) << "ops:\n  - matmul\n";
  r = wormsim("replay '" + text.string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.out, "has no column 'OP CODE'")) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));

  // A parsed file whose rows do not map still exits 0.
  const std::filesystem::path unmappable = dir / "unmappable.csv";
  std::ofstream(unmappable)
      << "OP CODE,OP TYPE,ATTRIBUTES,DEVICE KERNEL DURATION [ns],INPUT_0_W,INPUT_0_Z,INPUT_0_Y,"
         "INPUT_0_X,INPUT_0_LAYOUT,INPUT_0_DATATYPE,INPUT_0_MEMORY\n"
         "FooDeviceOperation,tt_dnn_device,{},100,1,1,32,32,TILE,BFLOAT16,DEV_0_DRAM_INTERLEAVED\n";
  r = wormsim("replay '" + unmappable.string() + "' --format json");
  EXPECT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["unmapped"], 1);
  EXPECT_TRUE(j["median_abs_pct_err"].is_null());
  EXPECT_TRUE(j["by_op"]["FooDeviceOperation"]["p90_abs_pct_err"].is_null());
}

}  // namespace
}  // namespace wormsim::analysis
