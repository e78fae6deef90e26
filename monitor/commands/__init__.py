"""The CLI's commands, one module per concern; ``monitor.cli`` wires them to argparse."""
