"""After a campaign: summary tables into the file, figures, and the text users see."""

from __future__ import annotations

from pathlib import Path

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.store import read_rows, write_summary
from nvdla_sim.campaign.summary import summarize
from nvdla_sim.campaign.tidy import hardware_config
from nvdla_sim.campaign.weight_ber import summarize_ber
from nvdla_sim.value_bits import number_format


def _pct(row) -> str:
    return (f"{row['sdc_rate'] * 100:6.3f}% [{row['sdc_low'] * 100:.3f}, "
            f"{row['sdc_high'] * 100:.3f}]  (n={row['n']})")


def finish_transient(out: Path, config: CampaignConfig, seconds: float, report: bool) -> str:
    rows, attrs, f = read_rows(out)
    registers = [r.decode() if isinstance(r, bytes) else str(r) for r in f["registers"][...]]
    f.close()
    hardware = hardware_config(attrs)
    tables = summarize(rows, registers, config.confidence, hardware)
    write_summary(out, tables, {"confidence": config.confidence})
    lines = [f"{rows.size:,} injections in {seconds:.1f} s "
             f"({rows.size / max(seconds, 1e-9):.0f} injections/s)",
             f"SDC rate {_pct(tables['overall'][0])}, 95% Wilson interval", "per unit:"]
    lines += [f"  {r['key'].decode():<8} {_pct(r)}" for r in tables["by_unit"]]
    fmt = number_format(hardware.precision)
    lines.append(f"per bit of the {fmt.name.upper()} activations and weights held (SDC rate "
                 f"[95% interval], injections; {fmt.label(fmt.bits - 1)}):")
    cells = [f"bit {r['key'].decode():>2}: {r['sdc_rate'] * 100:5.2f}% "
             f"[{r['sdc_low'] * 100:.2f},{r['sdc_high'] * 100:5.2f}] n={r['n']:<5}"
             for r in tables["by_int8_bit"]]
    lines += ["  " + "   ".join(cells[i:i + 3]) for i in range(0, len(cells), 3)]
    if report:
        from nvdla_sim.report import report as write_report
        folder = out.with_name(out.stem + "_report")
        files = write_report(out, folder)
        lines.append(f"figures and summary: {folder}/ ({len(files)} files)")
    return "\n".join(lines)


def finish_ber(out: Path, config: CampaignConfig, seconds: float,
               report: bool) -> str:
    rows, attrs, f = read_rows(out, "trials")
    f.close()
    table = summarize_ber(rows, config.confidence)
    write_summary(out, {"by_ber": table}, {"confidence": config.confidence})
    lines = [f"{rows.size} trials in {seconds:.1f} s; fault-free accuracy "
             f"{rows['golden_accuracy'][0] * 100:.2f}%"]
    for r in table:
        lines.append(f"  BER {r['ber']:.0e}: accuracy {r['accuracy'] * 100:6.2f}% "
                     f"[{r['accuracy_low'] * 100:.2f}, {r['accuracy_high'] * 100:.2f}], "
                     f"drop {r['drop'] * 100:.2f} points")
    if report:
        from nvdla_sim.report import report_ber
        folder = out.with_name(out.stem + "_report")
        files = report_ber(out, folder)
        lines.append(f"figures and summary: {folder}/ ({len(files)} files)")
    return "\n".join(lines)
