// nvdla-fi RTL bridge: simulation harness around the datapath (not synthesizable).
//
// The Python driver (rtl_bridge.stimulus) turns nvdla_sim's schedule of a
// layer into one row per cycle of what the datapath's input ports carry:
// the CSC output registers (data atom, weight slice), the SDP_RDMA element
// and the SDP operands.  The harness loads those rows from hex files
// ($readmemh on `load`) and plays them back, one row per clock, from the
// edge after `start`; row r is on the ports during layer cycle r - PRE.
// `cyc` is the current layer cycle (cycle 0 = nvdla_sim's cycle 0).
//
// The layer's configuration (CACC clip, SDP stages, converter) is loaded
// with the rows, from L<id>_cfg.hex.
//
// Monitors capture, in arrival order:
//   cap_fin[n] = {cycle the element is held in sdp.in, element}  (CACC finals)
//   cap_out[n] = {cycle sdp.out holds it, int8 output}
// and write them to hex files on `dump`.  Files live in the folder given by
// the plusarg +NVFI_IO=<dir>.

module nvfi_tb_top #(
  parameter int ATOM_C     = 8,
  parameter int ATOM_K     = 8,
  parameter int DBUF_DEPTH = 4096,
  parameter int STIM_DEPTH = 65536,
  parameter int CAP_DEPTH  = 65536,
  parameter bit SDP_BS     = 1'b1,
  parameter bit SDP_BN     = 1'b1,
  parameter bit SDP_EW     = 1'b0,
  parameter int PRE        = 4
) (
  input  logic        clk,
  input  logic        rst,
  input  logic        start,
  input  logic        load,
  input  logic        dump,
  input  logic [31:0] n_rows,
  input  logic [31:0] layer_id,
  // status
  output logic        running,
  output logic [31:0] cyc,
  output logic [31:0] n_fin,
  output logic [31:0] n_out,
  output logic        overflow
);
  localparam int BPE  = 8;
  localparam int AW   = ATOM_C * BPE;
  localparam int NL_W = $clog2(ATOM_K) + 1;
  localparam int PD_W = 3 + NL_W;
  localparam int NZB  = (ATOM_C + 7) / 8;
  localparam int PDB  = (PD_W + 7) / 8;
  // row layouts, byte aligned (rtl_bridge/stimulus.py packs the same)
  localparam int DAT_NZ = AW, DAT_PD = AW + 8 * NZB, DAT_V = DAT_PD + 8 * PDB;
  localparam int DAT_W  = DAT_V + 8;
  localparam int WT_NZ  = AW, WT_SEL = AW + 8 * NZB, WT_V = WT_SEL + 16;
  localparam int WT_W   = WT_V + 8;
  localparam int SDP_W  = 32 + 4 * 16 + 8;

  logic [DAT_W-1:0] stim_dat [STIM_DEPTH];
  logic [WT_W-1:0]  stim_wt  [STIM_DEPTH];
  logic [SDP_W-1:0] stim_sdp [STIM_DEPTH];
  logic [63:0]      cap_fin  [CAP_DEPTH];
  logic [63:0]      cap_out  [CAP_DEPTH];

  // ---- layer configuration: one 32-bit word per field, L<id>_cfg.hex, in the order of
  // rtl_bridge.stimulus.CFG_FIELDS (registers, so the datapath sees static values)
  localparam int NCFG = 29;
  logic [31:0] cfg [NCFG];
  wire [4:0]  cfg_clip_truncate  = cfg[0][4:0];
  wire        cfg_sdp_src_mem    = cfg[1][0];
  wire        cfg_bs_bypass      = cfg[2][0];
  wire        cfg_bs_alu_bypass  = cfg[3][0];
  wire        cfg_bs_mul_bypass  = cfg[4][0];
  wire        cfg_bs_mul_prelu   = cfg[5][0];
  wire        cfg_bs_relu_bypass = cfg[6][0];
  wire        cfg_bs_alu_src     = cfg[7][0];
  wire        cfg_bs_mul_src     = cfg[8][0];
  wire [1:0]  cfg_bs_alu_algo    = cfg[9][1:0];
  wire [5:0]  cfg_bs_alu_shift   = cfg[10][5:0];
  wire [15:0] cfg_bs_alu_operand = cfg[11][15:0];
  wire [7:0]  cfg_bs_mul_shift   = cfg[12][7:0];
  wire [15:0] cfg_bs_mul_operand = cfg[13][15:0];
  wire        cfg_bn_bypass      = cfg[14][0];
  wire        cfg_bn_alu_bypass  = cfg[15][0];
  wire        cfg_bn_mul_bypass  = cfg[16][0];
  wire        cfg_bn_mul_prelu   = cfg[17][0];
  wire        cfg_bn_relu_bypass = cfg[18][0];
  wire        cfg_bn_alu_src     = cfg[19][0];
  wire        cfg_bn_mul_src     = cfg[20][0];
  wire [1:0]  cfg_bn_alu_algo    = cfg[21][1:0];
  wire [5:0]  cfg_bn_alu_shift   = cfg[22][5:0];
  wire [15:0] cfg_bn_alu_operand = cfg[23][15:0];
  wire [7:0]  cfg_bn_mul_shift   = cfg[24][7:0];
  wire [15:0] cfg_bn_mul_operand = cfg[25][15:0];
  wire [31:0] cfg_cvt_offset     = cfg[26];
  wire [15:0] cfg_cvt_scale      = cfg[27][15:0];
  wire [5:0]  cfg_cvt_shift      = cfg[28][5:0];

  // ---- playback
  logic [DAT_W-1:0] dat_q;
  logic [WT_W-1:0]  wt_q;
  logic [SDP_W-1:0] sdp_q;
  logic [31:0]      pc;

  always_ff @(posedge clk) begin
    if (rst) begin
      running <= 1'b0; pc <= '0; cyc <= '0;
      dat_q <= '0; wt_q <= '0; sdp_q <= '0;
    end else if (start) begin
      running <= 1'b1; pc <= 32'd1; cyc <= -PRE;
      dat_q <= stim_dat[0]; wt_q <= stim_wt[0]; sdp_q <= stim_sdp[0];
    end else begin
      cyc <= cyc + 1;
      if (running && pc < n_rows) begin
        dat_q <= stim_dat[pc]; wt_q <= stim_wt[pc]; sdp_q <= stim_sdp[pc];
        pc <= pc + 1;
      end else begin
        running <= 1'b0;
        dat_q <= '0; wt_q <= '0; sdp_q <= '0;
      end
    end
  end

  // ---- the datapath
  logic        sdp_in_pvld, sdp_out_pvld, dlv_overflow;
  logic [31:0] sdp_in_data;
  logic [7:0]  sdp_out_data;
  wire  [15:0] wt_sel_idx = wt_q[WT_SEL +: 16];

  nvfi_datapath #(.ATOM_C(ATOM_C), .ATOM_K(ATOM_K), .BPE(BPE), .DBUF_DEPTH(DBUF_DEPTH),
                  .SDP_BS(SDP_BS), .SDP_BN(SDP_BN), .SDP_EW(SDP_EW)) u_dp (
    .clk(clk), .rst(rst),
    .sc2mac_dat_pvld(dat_q[DAT_V]),
    .sc2mac_dat_data(dat_q[0 +: AW]),
    .sc2mac_dat_nz  (dat_q[DAT_NZ +: ATOM_C]),
    .sc2mac_dat_pd  (dat_q[DAT_PD +: PD_W]),
    .sc2mac_wt_pvld (wt_q[WT_V]),
    .sc2mac_wt_sel  (wt_q[WT_V] ? (ATOM_K'(1) << wt_sel_idx) : '0),
    .sc2mac_wt_data (wt_q[0 +: AW]),
    .sc2mac_wt_nz   (wt_q[WT_NZ +: ATOM_C]),
    .rdma_pvld      (sdp_q[SDP_W-8]),
    .rdma_data      (sdp_q[0 +: 32]),
    .bs_alu_op_mem  (sdp_q[32 +: 16]),
    .bs_mul_op_mem  (sdp_q[48 +: 16]),
    .bn_alu_op_mem  (sdp_q[64 +: 16]),
    .bn_mul_op_mem  (sdp_q[80 +: 16]),
    .cfg_clip_truncate(cfg_clip_truncate), .cfg_sdp_src_mem(cfg_sdp_src_mem),
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
    .sdp_in_pvld(sdp_in_pvld), .sdp_in_data(sdp_in_data),
    .sdp_out_pvld(sdp_out_pvld), .sdp_out_data(sdp_out_data),
    .dlv_overflow(dlv_overflow)
  );

  // ---- monitors
  always_ff @(posedge clk) begin
    if (rst) begin
      n_fin <= '0; n_out <= '0; overflow <= 1'b0;
    end else begin
      if (sdp_in_pvld) begin
        if (n_fin < CAP_DEPTH) cap_fin[n_fin] <= {cyc + 32'd1, sdp_in_data};
        n_fin <= n_fin + 1;
      end
      if (sdp_out_pvld) begin
        if (n_out < CAP_DEPTH) cap_out[n_out] <= {cyc, 24'd0, sdp_out_data};
        n_out <= n_out + 1;
      end
      if (dlv_overflow || n_fin >= CAP_DEPTH || n_out >= CAP_DEPTH) overflow <= 1'b1;
    end
  end

  // ---- file I/O
  string io_dir;
  initial begin
    if (!$value$plusargs("NVFI_IO=%s", io_dir)) io_dir = ".";
  end

  always @(posedge clk) begin
    if (load) begin
      $readmemh($sformatf("%s/L%0d_cfg.hex", io_dir, layer_id), cfg);
      $readmemh($sformatf("%s/L%0d_dat.hex", io_dir, layer_id), stim_dat, 0, n_rows - 1);
      $readmemh($sformatf("%s/L%0d_wt.hex", io_dir, layer_id), stim_wt, 0, n_rows - 1);
      $readmemh($sformatf("%s/L%0d_sdp.hex", io_dir, layer_id), stim_sdp, 0, n_rows - 1);
    end
    if (dump) begin
      if (n_fin != 0) $writememh($sformatf("%s/fin.hex", io_dir), cap_fin, 0, n_fin - 1);
      if (n_out != 0) $writememh($sformatf("%s/out.hex", io_dir), cap_out, 0, n_out - 1);
    end
  end
endmodule
