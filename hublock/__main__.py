from hublock._cli import main

main()
