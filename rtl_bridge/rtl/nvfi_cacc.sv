// nvdla-fi RTL bridge: CACC, INT8 accumulation and delivery to SDP.
//
// Written for nvdla-fi after the structure of NVDLA's CACC (calc + assembly
// buffer + delivery buffer).  One lane per MAC cell (kernel of the group):
//
//   tau+7  mac_out (CMAC) and the assembly-buffer entry are read;
//   tau+8  g_lane[k].u_lane.sum   = abuf[entry] + psum, 35 bits  (cacc.sum[k])
//   tau+9  g_lane[k].u_lane.g_ent[e].abuf <= sat34(sum)          (cacc.abuf[e*ATOM_K+k])
//            after every step but the last of a channel operation;
//          g_lane[k].u_lane.out <= sat32(rnd(sat34(sum) >> CLIP)) (cacc.out[k])
//            after the last step.
//
// The entry is the pixel index within the stripe (counted from the pd's
// stripe_st); the first step of a channel operation does not read abuf.
// Finals leave through a delivery FIFO (no fault site), one element per
// cycle, lane order, towards SDP; the FIFO never back-pressures (the fault
// model assumes SDP never stalls CACC), its depth is a build parameter.

module nvfi_cacc #(
  parameter int ATOM_K     = 8,
  parameter int MAC_W      = 19,
  parameter int PD_W       = 8,
  parameter int NL_W       = 4,
  parameter int DBUF_DEPTH = 4096
) (
  input  logic                    clk,
  input  logic                    rst,
  input  logic [4:0]              cfg_clip_truncate,
  input  logic                    mac2accu_pvld,
  input  logic [PD_W-1:0]         mac2accu_pd,
  input  logic [ATOM_K*MAC_W-1:0] mac2accu_data,
  // element that enters SDP at the next clock edge (combinational)
  output logic                    dlv_pvld,
  output logic [31:0]             dlv_data,
  output logic                    dlv_overflow
);
  localparam int ENTRIES = 2 * ATOM_K;
  localparam int EW      = $clog2(ENTRIES);
  localparam int DW      = $clog2(DBUF_DEPTH);

  // pd fields (see nvfi_datapath)
  wire           in_stripe_st = mac2accu_pd[0];
  wire           in_first     = mac2accu_pd[1];
  wire           in_last      = mac2accu_pd[2];
  wire [NL_W-1:0] in_nlanes   = mac2accu_pd[3 +: NL_W];

  // entry counter (tau+7) and control pipeline to tau+8, tau+9
  logic [EW-1:0]   ent_cnt;
  logic [EW-1:0]   in_entry;
  logic            s_pvld, s_last;
  logic [EW-1:0]   s_entry;
  logic [NL_W-1:0] s_nlanes;
  logic            o_pvld;
  logic [NL_W-1:0] o_nlanes;

  assign in_entry = in_stripe_st ? '0 : ent_cnt;

  always_ff @(posedge clk) begin
    if (rst) begin
      ent_cnt <= '0;
      s_pvld <= 1'b0; s_last <= 1'b0; s_entry <= '0; s_nlanes <= '0;
      o_pvld <= 1'b0; o_nlanes <= '0;
    end else begin
      if (mac2accu_pvld) ent_cnt <= in_entry + 1'b1;
      s_pvld <= mac2accu_pvld;
      if (mac2accu_pvld) begin
        s_last   <= in_last;
        s_entry  <= in_entry;
        s_nlanes <= in_nlanes;
      end
      o_pvld <= s_pvld && s_last;
      if (s_pvld && s_last) o_nlanes <= s_nlanes;
    end
  end

  logic [31:0] fin [ATOM_K];
  for (genvar k = 0; k < ATOM_K; k++) begin : g_lane
    nvfi_cacc_lane #(.ENTRIES(ENTRIES), .MAC_W(MAC_W)) u_lane (
      .clk              (clk),
      .rst              (rst),
      .cfg_clip_truncate(cfg_clip_truncate),
      .in_pvld          (mac2accu_pvld),
      .in_first         (in_first),
      .in_entry         (in_entry),
      .in_data          (mac2accu_data[k*MAC_W +: MAC_W]),
      .s_pvld           (s_pvld),
      .s_last           (s_last),
      .s_entry          (s_entry),
      .out_data         (fin[k])
    );
  end

  // ---- delivery FIFO: finals of one pixel (o_nlanes lanes) per cycle in, one element out
  logic [31:0]   dbuf [DBUF_DEPTH];
  logic [DW-1:0] rd_ptr, wr_ptr;
  logic [DW:0]   count;
  logic [DW:0]   incoming;

  assign incoming = o_pvld ? (DW+1)'(o_nlanes) : '0;
  assign dlv_pvld = (count != 0) || (incoming != 0);
  assign dlv_data = (count != 0) ? dbuf[rd_ptr] : fin[0];

  always_ff @(posedge clk) begin
    if (rst) begin
      rd_ptr <= '0; wr_ptr <= '0; count <= '0; dlv_overflow <= 1'b0;
    end else begin
      // lanes that do not leave at once are queued, in lane order
      for (int l = 0; l < ATOM_K; l++) begin
        if (o_pvld && l < int'(o_nlanes) && (count != 0 || l != 0))
          dbuf[wr_ptr + DW'(l) - ((count != 0) ? DW'(0) : DW'(1))] <= fin[l];
      end
      if (dlv_pvld && count != 0) rd_ptr <= rd_ptr + 1'b1;
      wr_ptr <= wr_ptr + DW'(incoming) - ((count == 0 && incoming != 0) ? DW'(1) : DW'(0));
      count  <= count + incoming - (DW+1)'(dlv_pvld);
      if (count + incoming > (DW+1)'(DBUF_DEPTH)) dlv_overflow <= 1'b1;
    end
  end
endmodule


// One accumulator lane (one kernel of the group): adder, assembly buffer, result.
module nvfi_cacc_lane #(
  parameter int ENTRIES = 16,
  parameter int MAC_W   = 19
) (
  input  logic                       clk,
  input  logic                       rst,
  input  logic [4:0]                 cfg_clip_truncate,
  input  logic                       in_pvld,   // tau+7: mac_out valid
  input  logic                       in_first,  // first step of the channel operation
  input  logic [$clog2(ENTRIES)-1:0] in_entry,
  input  logic [MAC_W-1:0]           in_data,
  input  logic                       s_pvld,    // tau+8: sum valid
  input  logic                       s_last,    // last step of the channel operation
  input  logic [$clog2(ENTRIES)-1:0] s_entry,
  output logic [31:0]                out_data
);
  import nvfi_pkg::*;

  localparam int ACC_W = 34;
  localparam int SUM_W = 35;

  logic [SUM_W-1:0] sum;    // cacc.sum
  logic [31:0]      out;    // cacc.out
  logic [ACC_W-1:0] abuf_rd [ENTRIES];

  // tau+7: running sum (0 on the first step) + partial sum
  logic signed [SUM_W-1:0] running, psum, sum_d;
  assign running = in_first ? '0 : SUM_W'($signed(abuf_rd[in_entry]));
  assign psum    = SUM_W'($signed(in_data));
  assign sum_d   = running + psum;

  // tau+8: saturate to the assembly-buffer width; final rounding
  logic signed [ACC_W-1:0] acc;
  logic signed [31:0]      fin;
  assign acc = ACC_W'(sat(s64_t'($signed(sum)), ACC_W));
  assign fin = 32'(sat(rnd_shr(s64_t'(acc), int'(cfg_clip_truncate)), 32));

  for (genvar e = 0; e < ENTRIES; e++) begin : g_ent
    logic [ACC_W-1:0] abuf;  // cacc.abuf[e * ATOM_K + lane]
    always_ff @(posedge clk) begin
      if (rst) abuf <= '0;
      else if (s_pvld && !s_last && s_entry == e) abuf <= acc;
    end
    assign abuf_rd[e] = abuf;
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      sum <= '0;
      out <= '0;
    end else begin
      if (in_pvld) sum <= sum_d;
      if (s_pvld && s_last) out <= fin;
    end
  end
  assign out_data = out;
endmodule
