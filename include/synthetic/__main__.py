from include.synthetic import main

raise SystemExit(main())
