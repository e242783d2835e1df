from dualmm.cli import main

main()
