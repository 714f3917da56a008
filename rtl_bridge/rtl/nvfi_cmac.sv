// nvdla-fi RTL bridge: CMAC, the MAC array (INT8 direct convolution).
//
// Written for nvdla-fi after the structure of NVDLA's CMAC (two halves of
// ATOM_K/2 cells; per cell a shadow and an active weight register, a data
// copy, ATOM_C int8 multipliers gated by non-zero flags, an adder tree and
// an output retiming register).  Latencies follow docs/timing-and-faults.md,
// counted from the cycle tau the sequencer (CSC) issues an atomic operation:
//
//   tau+1  sc2mac_* inputs        (CSC output register, outside this module)
//   tau+2  g_half[h].dat_in       fault site cmac.dat_in[h]
//   tau+3  g_half[h].dat_pre      pre-active copy (no fault site in nvdla_sim)
//   tau+4  g_cell[i].u_cell.dat_actv   fault site cmac.dat_actv[i]; products form
//   tau+5  g_cell[i].u_cell.sum_out    fault site cmac.sum_out[i]
//   tau+6  g_cell[i].u_cell.mac_rt     output retiming (no fault site)
//   tau+7  g_cell[i].u_cell.mac_out    fault site cmac.mac_out[i] -> CACC
//
// Weights travel the same path (wt_in at +2, wt_pre at +3) and are written
// into cell i's shadow register wt_sd at +4 when the load selects cell i.
// All shadows are promoted into wt_actv on the edge that brings the first
// atomic operation of a stripe (pd stripe_st) into dat_actv.
//
// Side-band flags (valid, non-zero, pd) are not fault sites: zero-lane
// gating uses the fault-free flags, as the fault model requires.

module nvfi_cmac #(
  parameter int ATOM_C = 8,
  parameter int ATOM_K = 8,
  parameter int BPE    = 8,
  parameter int MAC_W  = 2 * BPE + $clog2(ATOM_C),
  parameter int PD_W   = 8
) (
  input  logic                    clk,
  input  logic                    rst,
  // CSC -> CMAC data atom (held during tau+1)
  input  logic                    sc2mac_dat_pvld,
  input  logic [ATOM_C*BPE-1:0]   sc2mac_dat_data,
  input  logic [ATOM_C-1:0]       sc2mac_dat_nz,
  input  logic [PD_W-1:0]         sc2mac_dat_pd,
  // CSC -> CMAC weight slice for one cell
  input  logic                    sc2mac_wt_pvld,
  input  logic [ATOM_K-1:0]       sc2mac_wt_sel,
  input  logic [ATOM_C*BPE-1:0]   sc2mac_wt_data,
  input  logic [ATOM_C-1:0]       sc2mac_wt_nz,
  // CMAC -> CACC (held during tau+7)
  output logic                    mac2accu_pvld,
  output logic [PD_W-1:0]         mac2accu_pd,
  output logic [ATOM_K*MAC_W-1:0] mac2accu_data
);
  localparam int HALF = ATOM_K / 2;
  localparam int AW   = ATOM_C * BPE;

  // stripe_st is bit 0 of the pd (see nvfi_datapath)
  localparam int PD_STRIPE_ST = 0;

  logic [AW-1:0]     pre_dat   [2];
  logic [ATOM_C-1:0] pre_dat_nz[2];
  logic [AW-1:0]     pre_wt    [2];
  logic [ATOM_C-1:0] pre_wt_nz [2];
  logic [HALF-1:0]   pre_wt_sel[2];
  logic              pre_wt_pvld[2];
  logic              pre_pvld;
  logic [PD_W-1:0]   pre_pd;

  for (genvar h = 0; h < 2; h++) begin : g_half
    // input retiming of this half (tau+2): cmac.dat_in[h]
    logic [AW-1:0]     dat_in;
    logic [ATOM_C-1:0] dat_in_nz;
    logic              dat_in_pvld;
    logic [PD_W-1:0]   dat_in_pd;
    logic [AW-1:0]     wt_in;
    logic [ATOM_C-1:0] wt_in_nz;
    logic [HALF-1:0]   wt_in_sel;
    logic              wt_in_pvld;
    // pre-active stage (tau+3)
    logic [AW-1:0]     dat_pre;
    logic [ATOM_C-1:0] dat_pre_nz;
    logic              dat_pre_pvld;
    logic [PD_W-1:0]   dat_pre_pd;
    logic [AW-1:0]     wt_pre;
    logic [ATOM_C-1:0] wt_pre_nz;
    logic [HALF-1:0]   wt_pre_sel;
    logic              wt_pre_pvld;

    always_ff @(posedge clk) begin
      if (rst) begin
        dat_in <= '0; dat_in_nz <= '0; dat_in_pvld <= 1'b0; dat_in_pd <= '0;
        wt_in <= '0; wt_in_nz <= '0; wt_in_sel <= '0; wt_in_pvld <= 1'b0;
        dat_pre <= '0; dat_pre_nz <= '0; dat_pre_pvld <= 1'b0; dat_pre_pd <= '0;
        wt_pre <= '0; wt_pre_nz <= '0; wt_pre_sel <= '0; wt_pre_pvld <= 1'b0;
      end else begin
        dat_in_pvld <= sc2mac_dat_pvld;
        if (sc2mac_dat_pvld) begin
          dat_in    <= sc2mac_dat_data;
          dat_in_nz <= sc2mac_dat_nz;
          dat_in_pd <= sc2mac_dat_pd;
        end
        wt_in_pvld <= sc2mac_wt_pvld && (sc2mac_wt_sel[h*HALF +: HALF] != '0);
        if (sc2mac_wt_pvld) begin
          wt_in     <= sc2mac_wt_data;
          wt_in_nz  <= sc2mac_wt_nz;
          wt_in_sel <= sc2mac_wt_sel[h*HALF +: HALF];
        end
        dat_pre_pvld <= dat_in_pvld;
        if (dat_in_pvld) begin
          dat_pre    <= dat_in;
          dat_pre_nz <= dat_in_nz;
          dat_pre_pd <= dat_in_pd;
        end
        wt_pre_pvld <= wt_in_pvld;
        if (wt_in_pvld) begin
          wt_pre     <= wt_in;
          wt_pre_nz  <= wt_in_nz;
          wt_pre_sel <= wt_in_sel;
        end
      end
    end

    assign pre_dat[h]     = dat_pre;
    assign pre_dat_nz[h]  = dat_pre_nz;
    assign pre_wt[h]      = wt_pre;
    assign pre_wt_nz[h]   = wt_pre_nz;
    assign pre_wt_sel[h]  = wt_pre_sel;
    assign pre_wt_pvld[h] = wt_pre_pvld;
  end

  // both halves carry the same operation; control comes from half 0
  assign pre_pvld = g_half[0].dat_pre_pvld;
  assign pre_pd   = g_half[0].dat_pre_pd;

  // control pipeline tau+4 .. tau+7 (shared by the cells)
  logic            actv_pvld, sum_pvld, rt_pvld, out_pvld;
  logic [PD_W-1:0] actv_pd, sum_pd, rt_pd, out_pd;
  always_ff @(posedge clk) begin
    if (rst) begin
      actv_pvld <= 1'b0; sum_pvld <= 1'b0; rt_pvld <= 1'b0; out_pvld <= 1'b0;
      actv_pd <= '0; sum_pd <= '0; rt_pd <= '0; out_pd <= '0;
    end else begin
      actv_pvld <= pre_pvld;
      sum_pvld  <= actv_pvld;
      rt_pvld   <= sum_pvld;
      out_pvld  <= rt_pvld;
      if (pre_pvld)  actv_pd <= pre_pd;
      if (actv_pvld) sum_pd  <= actv_pd;
      if (sum_pvld)  rt_pd   <= sum_pd;
      if (rt_pvld)   out_pd  <= rt_pd;
    end
  end
  assign mac2accu_pvld = out_pvld;
  assign mac2accu_pd   = out_pd;

  wire promote = pre_pvld && pre_pd[PD_STRIPE_ST];

  for (genvar i = 0; i < ATOM_K; i++) begin : g_cell
    localparam int H = i / HALF;
    nvfi_mac_cell #(.ATOM_C(ATOM_C), .BPE(BPE), .MAC_W(MAC_W)) u_cell (
      .clk         (clk),
      .rst         (rst),
      .actv_load   (pre_pvld),
      .dat_pre     (pre_dat[H]),
      .dat_pre_nz  (pre_dat_nz[H]),
      .wt_load     (pre_wt_pvld[H] && pre_wt_sel[H][i % HALF]),
      .wt_pre      (pre_wt[H]),
      .wt_pre_nz   (pre_wt_nz[H]),
      .wt_promote  (promote),
      .actv_pvld   (actv_pvld),
      .sum_pvld    (sum_pvld),
      .rt_pvld     (rt_pvld),
      .mac_out_data(mac2accu_data[i*MAC_W +: MAC_W])
    );
  end
endmodule


// One MAC cell: weights of one kernel, ATOM_C products per cycle.
module nvfi_mac_cell #(
  parameter int ATOM_C = 8,
  parameter int BPE    = 8,
  parameter int MAC_W  = 2 * BPE + $clog2(ATOM_C)
) (
  input  logic                  clk,
  input  logic                  rst,
  input  logic                  actv_load,   // dat_pre holds a valid op: load dat_actv
  input  logic [ATOM_C*BPE-1:0] dat_pre,
  input  logic [ATOM_C-1:0]     dat_pre_nz,
  input  logic                  wt_load,     // wt_pre selects this cell: load wt_sd
  input  logic [ATOM_C*BPE-1:0] wt_pre,
  input  logic [ATOM_C-1:0]     wt_pre_nz,
  input  logic                  wt_promote,  // stripe start: wt_actv <= wt_sd
  input  logic                  actv_pvld,   // dat_actv valid (tau+4)
  input  logic                  sum_pvld,    // sum_out valid (tau+5)
  input  logic                  rt_pvld,     // mac_rt valid (tau+6)
  output logic [MAC_W-1:0]      mac_out_data
);
  localparam int AW = ATOM_C * BPE;

  logic [AW-1:0]     dat_actv;     // cmac.dat_actv
  logic [ATOM_C-1:0] dat_actv_nz;
  logic [AW-1:0]     wt_sd;        // cmac.wt_sd
  logic [ATOM_C-1:0] wt_sd_nz;
  logic [AW-1:0]     wt_actv;      // cmac.wt_actv
  logic [ATOM_C-1:0] wt_actv_nz;
  logic [MAC_W-1:0]  sum_out;      // cmac.sum_out
  logic [MAC_W-1:0]  mac_rt;
  logic [MAC_W-1:0]  mac_out;      // cmac.mac_out

  // ATOM_C int8 x int8 products, enable = non-zero data & non-zero weight, adder tree
  logic [MAC_W-1:0] sum;
  always_comb begin
    sum = '0;
    for (int l = 0; l < ATOM_C; l++) begin
      logic signed [BPE-1:0]   d, w;
      logic signed [2*BPE-1:0] p;
      d = dat_actv[l*BPE +: BPE];
      w = wt_actv[l*BPE +: BPE];
      p = d * w;
      if (dat_actv_nz[l] && wt_actv_nz[l])
        sum = sum + {{(MAC_W - 2*BPE){p[2*BPE-1]}}, p};
    end
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      dat_actv <= '0; dat_actv_nz <= '0;
      wt_sd <= '0; wt_sd_nz <= '0; wt_actv <= '0; wt_actv_nz <= '0;
      sum_out <= '0; mac_rt <= '0; mac_out <= '0;
    end else begin
      if (actv_load) begin
        dat_actv    <= dat_pre;
        dat_actv_nz <= dat_pre_nz;
      end
      if (wt_load) begin
        wt_sd    <= wt_pre;
        wt_sd_nz <= wt_pre_nz;
      end
      if (wt_promote) begin
        wt_actv    <= wt_sd;
        wt_actv_nz <= wt_sd_nz;
      end
      if (actv_pvld) sum_out <= sum;
      if (sum_pvld)  mac_rt  <= sum_out;
      if (rt_pvld)   mac_out <= mac_rt;
    end
  end
  assign mac_out_data = mac_out;
endmodule
