// nvdla-fi RTL bridge: integer primitives shared by the datapath slices.
//
// Same semantics as nvdla_sim/arith.py (NVDLA cmod ac_fixed AC_RND_INF, AC_SAT):
// right shifts round to nearest with ties away from zero, then saturate.
// Values are carried in 64-bit signed containers.  Bounds (every caller):
// |v| <= 2**49 for rnd_shr with s <= 63 (|v| + 2**62 < 2**63), bits <= 63 for sat.

package nvfi_pkg;

  typedef logic signed [63:0] s64_t;

  // Clamp to the signed `bits`-bit range (1 <= bits <= 63).
  function automatic s64_t sat(input s64_t v, input int unsigned bits);
    s64_t hi, lo;
    hi = (s64_t'(1) <<< (bits - 1)) - 1;
    lo = -(s64_t'(1) <<< (bits - 1));
    if (v > hi) return hi;
    if (v < lo) return lo;
    return v;
  endfunction

  // v / 2**s rounded to nearest, ties away from zero (0 <= s <= 63, |v| <= 2**49).
  function automatic s64_t rnd_shr(input s64_t v, input int unsigned s);
    logic [63:0] mag, half;
    mag  = (v < 0) ? 64'(-v) : 64'(v);
    half = (s > 0) ? (64'(1) << (s - 1)) : 64'(0);
    mag  = (mag + half) >> s;
    return (v < 0) ? -s64_t'(mag) : s64_t'(mag);
  endfunction

  // sat32(op << shift) for a 16-bit operand and a 6-bit shift (cmod IntShiftLeft<16,6,32>).
  function automatic s64_t shl_sat32(input logic signed [15:0] op, input logic [5:0] shift);
    if (op == 0) return '0;
    if (shift >= 6'd32) return (op < 0) ? -(s64_t'(1) <<< 31) : (s64_t'(1) <<< 31) - 1;
    return sat(s64_t'(op) <<< shift, 32);
  endfunction

endpackage
