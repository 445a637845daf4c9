<?php
// Roundcube's configuration for interop/roundcube_test.go, rendered into a
// folder of the test's own that ROUNDCUBE_CONFIG_DIR names (the package's
// /etc/roundcube stays untouched). {{DIR}} is that scratch folder and
// {{IMAP}} the address Roundcube connects to (the test's counting proxy).
$config = [];
$config['db_dsnw'] = 'sqlite:///{{DIR}}/roundcube.db?mode=0600';
$config['imap_host'] = '{{IMAP}}';
$config['smtp_host'] = '';
// A fixed key is fine for a throwaway test instance (24 bytes, as required).
$config['des_key'] = 'dormouse-interop-24bytes';
$config['enable_installer'] = false;
$config['log_dir'] = '{{DIR}}/logs/';
$config['temp_dir'] = '{{DIR}}/temp/';
$config['plugins'] = [];
$config['skin'] = 'elastic';
// Roundcube's own defaults otherwise: no IMAP cache, 50 messages a page,
// sorting and threading on the server when it offers SORT and THREAD.
