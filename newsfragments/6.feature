Operations: mode 6 for NTPsec's ntpq (peers, rv, as, mrulist, :config), ntpservice-q, statistics files for ntpviz, Prometheus metrics, logfile/logconfig, a systemd unit and manual pages.
