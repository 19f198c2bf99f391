from previewd.cli import main

main()
