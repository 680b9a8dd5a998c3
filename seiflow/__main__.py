from seiflow.cli.app import main

main()
