// nvdla-fi RTL bridge: SDP INT8 pipeline (X1 = BS, X2 = BN, output converter).
//
// Written for nvdla-fi after NVDLA's SDP data path as nvdla_sim models it
// (cmod sdp_x.cpp / sdp_c.cpp).  One element per cycle; with sigma the cycle
// an element is held in `in`:
//
//   sigma    in                         sdp.in     (32)
//   sigma+1  u_bs.alu                   sdp.bs_alu (33)  ALU result (none if ALU bypassed)
//   sigma+2  u_bs.mul                   sdp.bs_mul (49)  multiplier result (ALU result on
//                                                        PReLU's positive path; none if
//                                                        bypassed)
//   sigma+3  u_bs.out                   sdp.bs_out (32)  truncated, ReLU'd stage output
//   sigma+4..6  u_bn.alu, u_bn.mul, u_bn.out  (sdp.bn_*)
//   sigma+7  out                        sdp.out    (8)   converted int8 output
//
// A stage missing from the configuration (SDP_BS / SDP_BN = 0) is absent and
// the later registers move up, as in nvdla_sim's register list.  A bypassed
// stage keeps its registers dead: the element travels a bypass delay line
// (no fault site) and the latency stays the same.  SDP_EW = 1 adds a 1-cycle
// EW slot that only passes data through (the EW stage itself is not modelled:
// layers with EW enabled are refused by the Python driver).
//
// Operands read from memory (per channel or per element) arrive on the
// *_op_mem inputs during the cycle the stage uses them: the ALU operand with
// the stage input, the multiplier operand one cycle later.

module nvfi_sdp #(
  parameter bit SDP_BS = 1'b1,
  parameter bit SDP_BN = 1'b1,
  parameter bit SDP_EW = 1'b0
) (
  input  logic        clk,
  input  logic        rst,
  // X stage configuration, BS then BN
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
  // output converter
  input  logic [31:0] cfg_cvt_offset,
  input  logic [15:0] cfg_cvt_scale,
  input  logic [5:0]  cfg_cvt_shift,
  // element stream (loaded into `in` at the next edge)
  input  logic        in_pvld_i,
  input  logic [31:0] in_data_i,
  // operands from memory
  input  logic [15:0] bs_alu_op_mem, bs_mul_op_mem, bn_alu_op_mem, bn_mul_op_mem,
  // output (held during sigma+7)
  output logic        out_pvld,
  output logic [7:0]  out_data
);
  import nvfi_pkg::*;

  logic [31:0] in;       // sdp.in
  logic        in_pvld;
  logic [7:0]  out;      // sdp.out

  always_ff @(posedge clk) begin
    if (rst) begin
      in <= '0; in_pvld <= 1'b0;
    end else begin
      in_pvld <= in_pvld_i;
      if (in_pvld_i) in <= in_data_i;
    end
  end

  // ---- X1 (BS)
  logic        x1_pvld;
  logic [31:0] x1_data;
  if (SDP_BS) begin : g_bs
    nvfi_sdp_x u_bs (
      .clk(clk), .rst(rst),
      .cfg_bypass(cfg_bs_bypass), .cfg_alu_bypass(cfg_bs_alu_bypass),
      .cfg_mul_bypass(cfg_bs_mul_bypass), .cfg_mul_prelu(cfg_bs_mul_prelu),
      .cfg_relu_bypass(cfg_bs_relu_bypass), .cfg_alu_src(cfg_bs_alu_src),
      .cfg_mul_src(cfg_bs_mul_src), .cfg_alu_algo(cfg_bs_alu_algo),
      .cfg_alu_shift(cfg_bs_alu_shift), .cfg_alu_operand(cfg_bs_alu_operand),
      .cfg_mul_shift(cfg_bs_mul_shift), .cfg_mul_operand(cfg_bs_mul_operand),
      .x_pvld(in_pvld), .x_data(in),
      .alu_op_mem(bs_alu_op_mem), .mul_op_mem(bs_mul_op_mem),
      .y_pvld(x1_pvld), .y_data(x1_data)
    );
  end else begin : g_no_bs
    assign x1_pvld = in_pvld;
    assign x1_data = in;
  end

  // ---- X2 (BN)
  logic        x2_pvld;
  logic [31:0] x2_data;
  if (SDP_BN) begin : g_bn
    nvfi_sdp_x u_bn (
      .clk(clk), .rst(rst),
      .cfg_bypass(cfg_bn_bypass), .cfg_alu_bypass(cfg_bn_alu_bypass),
      .cfg_mul_bypass(cfg_bn_mul_bypass), .cfg_mul_prelu(cfg_bn_mul_prelu),
      .cfg_relu_bypass(cfg_bn_relu_bypass), .cfg_alu_src(cfg_bn_alu_src),
      .cfg_mul_src(cfg_bn_mul_src), .cfg_alu_algo(cfg_bn_alu_algo),
      .cfg_alu_shift(cfg_bn_alu_shift), .cfg_alu_operand(cfg_bn_alu_operand),
      .cfg_mul_shift(cfg_bn_mul_shift), .cfg_mul_operand(cfg_bn_mul_operand),
      .x_pvld(x1_pvld), .x_data(x1_data),
      .alu_op_mem(bn_alu_op_mem), .mul_op_mem(bn_mul_op_mem),
      .y_pvld(x2_pvld), .y_data(x2_data)
    );
  end else begin : g_no_bn
    assign x2_pvld = x1_pvld;
    assign x2_data = x1_data;
  end

  // ---- EW slot (pass-through only)
  logic        y_pvld;
  logic [31:0] y_data;
  if (SDP_EW) begin : g_ew
    logic        ew_pvld;
    logic [31:0] ew_byp;
    always_ff @(posedge clk) begin
      if (rst) begin
        ew_pvld <= 1'b0; ew_byp <= '0;
      end else begin
        ew_pvld <= x2_pvld;
        if (x2_pvld) ew_byp <= x2_data;
      end
    end
    assign y_pvld = ew_pvld;
    assign y_data = ew_byp;
  end else begin : g_no_ew
    assign y_pvld = x2_pvld;
    assign y_data = x2_data;
  end

  // ---- output converter: sat8(sat17(rnd(((y - offset) * scale) >> shift)))
  logic signed [7:0] cvt;
  always_comb begin
    s64_t d;  // 33-bit difference times a 16-bit scale: 49 bits
    d   = (s64_t'($signed(y_data)) - s64_t'($signed(cfg_cvt_offset))) * s64_t'($signed(cfg_cvt_scale));
    cvt = 8'(sat(sat(rnd_shr(d, int'(cfg_cvt_shift)), 17), 8));
  end

  logic out_q_pvld;
  always_ff @(posedge clk) begin
    if (rst) begin
      out <= '0; out_q_pvld <= 1'b0;
    end else begin
      out_q_pvld <= y_pvld;
      if (y_pvld) out <= cvt;
    end
  end
  assign out_pvld = out_q_pvld;
  assign out_data = out;
endmodule


// One X stage: ALU (MAX / MIN / SUM with a shifted operand), multiplier by an
// int16 (optionally PReLU), truncation by a rounded shift with 32-bit
// saturation, ReLU.  Latency 3 whether bypassed or not.
module nvfi_sdp_x (
  input  logic        clk,
  input  logic        rst,
  input  logic        cfg_bypass, cfg_alu_bypass, cfg_mul_bypass, cfg_mul_prelu,
  input  logic        cfg_relu_bypass, cfg_alu_src, cfg_mul_src,
  input  logic [1:0]  cfg_alu_algo,
  input  logic [5:0]  cfg_alu_shift,
  input  logic [15:0] cfg_alu_operand,
  input  logic [7:0]  cfg_mul_shift,
  input  logic [15:0] cfg_mul_operand,
  input  logic        x_pvld,       // stage input valid (cycle s)
  input  logic [31:0] x_data,
  input  logic [15:0] alu_op_mem,   // ALU operand from memory (cycle s)
  input  logic [15:0] mul_op_mem,   // MUL operand from memory (cycle s+1)
  output logic        y_pvld,       // stage output (cycle s+3)
  output logic [31:0] y_data
);
  import nvfi_pkg::*;

  localparam logic [1:0] ALU_MAX = 2'd0, ALU_MIN = 2'd1;

  logic [32:0] alu;   // sdp.<stage>_alu
  logic [48:0] mul;   // sdp.<stage>_mul
  logic [31:0] out;   // sdp.<stage>_out
  logic        alu_pvld, mul_pvld, out_pvld, mul_pos;
  logic [31:0] byp1, byp2, byp3;   // bypass delay line (no fault site)
  // a bypassed ALU / multiplier has no register (NVDLA: a wire around it); its value
  // takes these instead (no fault sites)
  logic [32:0] alu_w;
  logic [48:0] mul_w;
  logic [32:0] alu_q;
  logic [48:0] mul_q;
  assign alu_q = cfg_alu_bypass ? alu_w : alu;
  assign mul_q = cfg_mul_bypass ? mul_w : mul;

  // cycle s: ALU
  logic signed [32:0] alu_d;
  always_comb begin
    s64_t op, x;
    x  = s64_t'($signed(x_data));
    op = shl_sat32(cfg_alu_src ? alu_op_mem : cfg_alu_operand, cfg_alu_shift);
    if (cfg_alu_bypass)              alu_d = 33'(x);
    else if (cfg_alu_algo == ALU_MAX) alu_d = 33'((x > op) ? x : op);
    else if (cfg_alu_algo == ALU_MIN) alu_d = 33'((x < op) ? x : op);
    else                              alu_d = 33'(x + op);  // SUM (EQL adds too)
  end

  // cycle s+1: multiplier; PReLU's sign travels beside the data
  logic               prelu_pass, alu_pos;
  logic signed [48:0] mul_d;
  assign prelu_pass = cfg_mul_prelu && !cfg_mul_bypass;
  assign alu_pos    = !alu_q[32];
  always_comb begin
    s64_t a;  // 33 bits; times a 16-bit operand: 49 bits
    a = s64_t'($signed(alu_q));
    if (cfg_mul_bypass || (prelu_pass && alu_pos)) mul_d = 49'(a);
    else mul_d = 49'(a * s64_t'($signed(cfg_mul_src ? mul_op_mem : cfg_mul_operand)));
  end

  // cycle s+2: truncation (also with MUL bypassed), PReLU positive path, ReLU
  logic signed [31:0] out_d;
  always_comb begin
    s64_t t;
    t = sat(rnd_shr(s64_t'($signed(mul_q)), int'(cfg_mul_shift[5:0])), 32);
    if (prelu_pass && mul_pos) t = s64_t'($signed(mul_q[31:0]));
    if (!cfg_relu_bypass && t < 0) t = '0;
    out_d = 32'(t);
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      alu <= '0; mul <= '0; out <= '0; mul_pos <= 1'b0; alu_w <= '0; mul_w <= '0;
      alu_pvld <= 1'b0; mul_pvld <= 1'b0; out_pvld <= 1'b0;
      byp1 <= '0; byp2 <= '0; byp3 <= '0;
    end else begin
      alu_pvld <= x_pvld;
      mul_pvld <= alu_pvld;
      out_pvld <= mul_pvld;
      if (cfg_bypass) begin
        if (x_pvld)   byp1 <= x_data;
        if (alu_pvld) byp2 <= byp1;
        if (mul_pvld) byp3 <= byp2;
      end else begin
        if (x_pvld) begin
          if (cfg_alu_bypass) alu_w <= alu_d;
          else                alu   <= alu_d;
        end
        if (alu_pvld) begin
          if (cfg_mul_bypass) mul_w <= mul_d;
          else                mul   <= mul_d;
          mul_pos <= alu_pos;
        end
        if (mul_pvld) out <= out_d;
      end
    end
  end
  assign y_pvld = out_pvld;
  assign y_data = cfg_bypass ? byp3 : out;
endmodule
