from hublock.cli.main import run

run()
