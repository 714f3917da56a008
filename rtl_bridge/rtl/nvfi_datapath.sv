// nvdla-fi RTL bridge: the datapath slices nvdla_sim's fault model targets,
// CMAC -> CACC -> SDP, for one hardware configuration.
//
// Fault-site registers (nvdla_sim name -> instance path below u_dp):
//   cmac.dat_in[h]      u_cmac.g_half[h].dat_in
//   cmac.dat_actv[i]    u_cmac.g_cell[i].u_cell.dat_actv
//   cmac.wt_sd[i]       u_cmac.g_cell[i].u_cell.wt_sd
//   cmac.wt_actv[i]     u_cmac.g_cell[i].u_cell.wt_actv
//   cmac.sum_out[i]     u_cmac.g_cell[i].u_cell.sum_out
//   cmac.mac_out[i]     u_cmac.g_cell[i].u_cell.mac_out
//   cacc.sum[k]         u_cacc.g_lane[k].u_lane.sum
//   cacc.abuf[e*K+k]    u_cacc.g_lane[k].u_lane.g_ent[e].abuf
//   cacc.out[k]         u_cacc.g_lane[k].u_lane.out
//   sdp.in              u_sdp.in
//   sdp.bs_{alu,mul,out} u_sdp.g_bs.u_bs.{alu,mul,out}
//   sdp.bn_{alu,mul,out} u_sdp.g_bn.u_bn.{alu,mul,out}
//   sdp.out             u_sdp.out
//
// Sequencer pd fields (sc2mac_dat_pd, travel with the data to CACC):
//   [0] stripe_st   first atomic operation of a stripe operation (weights promote)
//   [1] chn_first   first step (block 0, tap 0) of the channel operation
//   [2] chn_last    last step: CACC writes finals instead of the assembly buffer
//   [3 +: NL_W] nlanes  kernel lanes of this group that SDP receives

module nvfi_datapath #(
  parameter int ATOM_C     = 8,
  parameter int ATOM_K     = 8,
  parameter int BPE        = 8,
  parameter int DBUF_DEPTH = 4096,
  parameter bit SDP_BS     = 1'b1,
  parameter bit SDP_BN     = 1'b1,
  parameter bit SDP_EW     = 1'b0,
  localparam int MAC_W     = 2 * BPE + $clog2(ATOM_C),
  localparam int NL_W      = $clog2(ATOM_K) + 1,
  localparam int PD_W      = 3 + NL_W
) (
  input  logic                  clk,
  input  logic                  rst,
  // CSC -> CMAC
  input  logic                  sc2mac_dat_pvld,
  input  logic [ATOM_C*BPE-1:0] sc2mac_dat_data,
  input  logic [ATOM_C-1:0]     sc2mac_dat_nz,
  input  logic [PD_W-1:0]       sc2mac_dat_pd,
  input  logic                  sc2mac_wt_pvld,
  input  logic [ATOM_K-1:0]     sc2mac_wt_sel,
  input  logic [ATOM_C*BPE-1:0] sc2mac_wt_data,
  input  logic [ATOM_C-1:0]     sc2mac_wt_nz,
  // SDP input from memory (SDP_RDMA), used when cfg_sdp_src_mem
  input  logic                  rdma_pvld,
  input  logic [31:0]           rdma_data,
  input  logic [15:0]           bs_alu_op_mem, bs_mul_op_mem, bn_alu_op_mem, bn_mul_op_mem,
  // configuration
  input  logic [4:0]            cfg_clip_truncate,
  input  logic                  cfg_sdp_src_mem,
  input  logic        cfg_bs_bypass, cfg_bs_alu_bypass, cfg_bs_mul_bypass, cfg_bs_mul_prelu,
  input  logic        cfg_bs_relu_bypass, cfg_bs_alu_src, cfg_bs_mul_src,
  input  logic [1:0]  cfg_bs_alu_algo,
  input  logic [5:0]  cfg_bs_alu_shift,
  input  logic [15:0] cfg_bs_alu_operand,
  input  logic [7:0]  cfg_bs_mul_shift,
  input  logic [15:0] cfg_bs_mul_operand,
  input  logic        cfg_bn_bypass, cfg_bn_alu_bypass, cfg_bn_mul_bypass, cfg_bn_mul_prelu,
  input  logic        cfg_bn_relu_bypass, cfg_bn_alu_src, cfg_bn_mul_src,
  input  logic [1:0]  cfg_bn_alu_algo,
  input  logic [5:0]  cfg_bn_alu_shift,
  input  logic [15:0] cfg_bn_alu_operand,
  input  logic [7:0]  cfg_bn_mul_shift,
  input  logic [15:0] cfg_bn_mul_operand,
  input  logic [31:0] cfg_cvt_offset,
  input  logic [15:0] cfg_cvt_scale,
  input  logic [5:0]  cfg_cvt_shift,
  // element entering SDP at the next edge (CACC final or memory element)
  output logic                  sdp_in_pvld,
  output logic [31:0]           sdp_in_data,
  // SDP output register
  output logic                  sdp_out_pvld,
  output logic [7:0]            sdp_out_data,
  output logic                  dlv_overflow
);
  logic                    mac2accu_pvld;
  logic [PD_W-1:0]         mac2accu_pd;
  logic [ATOM_K*MAC_W-1:0] mac2accu_data;
  logic                    dlv_pvld;
  logic [31:0]             dlv_data;

  nvfi_cmac #(.ATOM_C(ATOM_C), .ATOM_K(ATOM_K), .BPE(BPE), .MAC_W(MAC_W), .PD_W(PD_W)) u_cmac (
    .clk(clk), .rst(rst),
    .sc2mac_dat_pvld(sc2mac_dat_pvld), .sc2mac_dat_data(sc2mac_dat_data),
    .sc2mac_dat_nz(sc2mac_dat_nz), .sc2mac_dat_pd(sc2mac_dat_pd),
    .sc2mac_wt_pvld(sc2mac_wt_pvld), .sc2mac_wt_sel(sc2mac_wt_sel),
    .sc2mac_wt_data(sc2mac_wt_data), .sc2mac_wt_nz(sc2mac_wt_nz),
    .mac2accu_pvld(mac2accu_pvld), .mac2accu_pd(mac2accu_pd), .mac2accu_data(mac2accu_data)
  );

  nvfi_cacc #(.ATOM_K(ATOM_K), .MAC_W(MAC_W), .PD_W(PD_W), .NL_W(NL_W),
              .DBUF_DEPTH(DBUF_DEPTH)) u_cacc (
    .clk(clk), .rst(rst), .cfg_clip_truncate(cfg_clip_truncate),
    .mac2accu_pvld(mac2accu_pvld), .mac2accu_pd(mac2accu_pd), .mac2accu_data(mac2accu_data),
    .dlv_pvld(dlv_pvld), .dlv_data(dlv_data), .dlv_overflow(dlv_overflow)
  );

  assign sdp_in_pvld = cfg_sdp_src_mem ? rdma_pvld : dlv_pvld;
  assign sdp_in_data = cfg_sdp_src_mem ? rdma_data : dlv_data;

  nvfi_sdp #(.SDP_BS(SDP_BS), .SDP_BN(SDP_BN), .SDP_EW(SDP_EW)) u_sdp (
    .clk(clk), .rst(rst),
    .cfg_bs_bypass(cfg_bs_bypass), .cfg_bs_alu_bypass(cfg_bs_alu_bypass),
    .cfg_bs_mul_bypass(cfg_bs_mul_bypass), .cfg_bs_mul_prelu(cfg_bs_mul_prelu),
    .cfg_bs_relu_bypass(cfg_bs_relu_bypass), .cfg_bs_alu_src(cfg_bs_alu_src),
    .cfg_bs_mul_src(cfg_bs_mul_src), .cfg_bs_alu_algo(cfg_bs_alu_algo),
    .cfg_bs_alu_shift(cfg_bs_alu_shift), .cfg_bs_alu_operand(cfg_bs_alu_operand),
    .cfg_bs_mul_shift(cfg_bs_mul_shift), .cfg_bs_mul_operand(cfg_bs_mul_operand),
    .cfg_bn_bypass(cfg_bn_bypass), .cfg_bn_alu_bypass(cfg_bn_alu_bypass),
    .cfg_bn_mul_bypass(cfg_bn_mul_bypass), .cfg_bn_mul_prelu(cfg_bn_mul_prelu),
    .cfg_bn_relu_bypass(cfg_bn_relu_bypass), .cfg_bn_alu_src(cfg_bn_alu_src),
    .cfg_bn_mul_src(cfg_bn_mul_src), .cfg_bn_alu_algo(cfg_bn_alu_algo),
    .cfg_bn_alu_shift(cfg_bn_alu_shift), .cfg_bn_alu_operand(cfg_bn_alu_operand),
    .cfg_bn_mul_shift(cfg_bn_mul_shift), .cfg_bn_mul_operand(cfg_bn_mul_operand),
    .cfg_cvt_offset(cfg_cvt_offset), .cfg_cvt_scale(cfg_cvt_scale), .cfg_cvt_shift(cfg_cvt_shift),
    .in_pvld_i(sdp_in_pvld), .in_data_i(sdp_in_data),
    .bs_alu_op_mem(bs_alu_op_mem), .bs_mul_op_mem(bs_mul_op_mem),
    .bn_alu_op_mem(bn_alu_op_mem), .bn_mul_op_mem(bn_mul_op_mem),
    .out_pvld(sdp_out_pvld), .out_data(sdp_out_data)
  );
endmodule
