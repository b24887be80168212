from netplay.cli.app import main

raise SystemExit(main())
