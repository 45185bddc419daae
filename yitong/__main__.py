from yitong.cli import main

main()
