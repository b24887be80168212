from netplay.cli import main

raise SystemExit(main())
