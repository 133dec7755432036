from sgdtricks.quadratic.report import main

main()
