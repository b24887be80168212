"""Rendering steps as bash: the dry run's output and the exported script."""


def script_lines(steps):
    """Each step's shell line, under a comment each time the phase changes."""
    lines, phase = [], None
    for step in steps:
        if step.phase != phase:
            phase = step.phase
            if lines:
                lines.append("")
            lines.append(f"# {phase}")
        lines.append(step.shell())
    return lines
