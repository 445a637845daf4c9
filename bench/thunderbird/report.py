import sys; print("report stub", sys.argv[1:])
