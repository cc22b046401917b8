from hublock._cli import run

run()
