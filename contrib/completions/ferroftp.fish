# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_ferroftp_global_optspecs
    string join \n h/help V/version
end

function __fish_ferroftp_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_ferroftp_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_ferroftp_using_subcommand
    set -l cmd (__fish_ferroftp_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c ferroftp -n "__fish_ferroftp_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ferroftp -n "__fish_ferroftp_needs_command" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_needs_command" -f -a "serve" -d 'Run the FTP server on an instance directory'
complete -c ferroftp -n "__fish_ferroftp_needs_command" -f -a "user" -d 'Manage accounts in DIR/data/credentials.txt (works while the server runs)'
complete -c ferroftp -n "__fish_ferroftp_needs_command" -f -a "client" -d 'Terminal FTP/FTPS client for any server (interactive, or scripted with -c)'
complete -c ferroftp -n "__fish_ferroftp_needs_command" -f -a "web" -d 'Serve the browser UI to FTP/FTPS servers (default http://127.0.0.1:8080/)'
complete -c ferroftp -n "__fish_ferroftp_needs_command" -f -a "unblock" -d 'Lift the failed-login block of an address on the running server (within 2 seconds)'
complete -c ferroftp -n "__fish_ferroftp_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l dir -d 'Instance directory (data/, server_storage/, certs/)' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l listen -d 'Address to listen on; repeat for several (default 0.0.0.0:5550)' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l pasv-ports -d 'Passive data ports, e.g. 50000-50100' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l pasv-address -d 'Address announced in PASV replies (behind NAT)' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l max-sessions -d 'Worker threads = concurrent sessions (default 256)' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l implicit-tls-listen -d 'Implicit FTPS listener (TLS from the first byte, like port 990); repeatable' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l config -d 'Config file (default DIR/ferroftp.toml when present)' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l allow-signup -d 'Let visitors create an account with SIGNUP before logging in'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l anonymous -d 'Allow anonymous (user `anonymous` or `ftp`) read-only access to Public/'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -l require-tls -d 'Refuse logins before AUTH TLS and transfers without PROT P'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand serve" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "add" -d 'Create an account (prompts for the password twice unless --password-stdin)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "del" -d 'Delete an account (its files stay)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "ban" -d 'Ban an account: it can no longer log in, open sessions end'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "unban" -d 'Lift a ban'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "passwd" -d 'Change a password'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "list" -d 'List accounts'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "limit" -d 'Set quotas and bandwidth limits in DIR/data/limits.txt (works while the server runs); with no option, show what applies. A value `none` lifts a limit, `default` takes the value of the `*` line again'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and not __fish_seen_subcommand_from add del ban unban passwd list limit help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from add" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from add" -l admin -d 'Make the account an administrator (sees and may change everything)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from add" -l password-stdin -d 'Read the password from one line of standard input instead of prompting'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from del" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from del" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from del" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from ban" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from ban" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from ban" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from unban" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from unban" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from unban" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from passwd" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-stdin -d 'Read the new password from one line of standard input instead of prompting'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from passwd" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from list" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from limit" -l quota -d 'Bytes the user\'s files may take in all, e.g. 500M or 10G' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from limit" -l files -d 'How many files the user may own' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from limit" -l upload-rate -d 'Bytes per second for all the user\'s uploads together, e.g. 512K or 2M' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from limit" -l download-rate -d 'Bytes per second for all the user\'s downloads together' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from limit" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from limit" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from limit" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create an account (prompts for the password twice unless --password-stdin)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "del" -d 'Delete an account (its files stay)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "ban" -d 'Ban an account: it can no longer log in, open sessions end'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "unban" -d 'Lift a ban'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Change a password'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List accounts'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "limit" -d 'Set quotas and bandwidth limits in DIR/data/limits.txt (works while the server runs); with no option, show what applies. A value `none` lifts a limit, `default` takes the value of the `*` line again'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand client" -s c -l command -d 'Commands to run, separated by `;`; then exit (non-zero at the first failure)' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand client" -l user -d 'User to log in as (the password comes from FERROFTP_PASSWORD or a hidden prompt)' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand client" -l timeout -d 'Seconds to wait for a connection and the server\'s greeting' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand client" -l insecure -d 'Accept any TLS certificate (no pinning)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand client" -l implicit -d 'Implicit TLS (TLS from the first byte, port 990 style)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand client" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand client" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand web" -l listen -d 'Address of the web page (default 127.0.0.1:8080; 0.0.0.0 exposes it to the LAN)' -r
complete -c ferroftp -n "__fish_ferroftp_using_subcommand web" -l dir -d 'Instance directory whose ferroftp.toml holds web_allowed_servers' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand web" -l config -d 'Config file (default DIR/ferroftp.toml when present)' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand web" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand web" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand unblock" -l dir -d 'Instance directory' -r -F
complete -c ferroftp -n "__fish_ferroftp_using_subcommand unblock" -s h -l help -d 'Print help'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand unblock" -s V -l version -d 'Print version'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and not __fish_seen_subcommand_from serve user client web unblock help" -f -a "serve" -d 'Run the FTP server on an instance directory'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and not __fish_seen_subcommand_from serve user client web unblock help" -f -a "user" -d 'Manage accounts in DIR/data/credentials.txt (works while the server runs)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and not __fish_seen_subcommand_from serve user client web unblock help" -f -a "client" -d 'Terminal FTP/FTPS client for any server (interactive, or scripted with -c)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and not __fish_seen_subcommand_from serve user client web unblock help" -f -a "web" -d 'Serve the browser UI to FTP/FTPS servers (default http://127.0.0.1:8080/)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and not __fish_seen_subcommand_from serve user client web unblock help" -f -a "unblock" -d 'Lift the failed-login block of an address on the running server (within 2 seconds)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and not __fish_seen_subcommand_from serve user client web unblock help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "add" -d 'Create an account (prompts for the password twice unless --password-stdin)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "del" -d 'Delete an account (its files stay)'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "ban" -d 'Ban an account: it can no longer log in, open sessions end'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "unban" -d 'Lift a ban'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Change a password'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List accounts'
complete -c ferroftp -n "__fish_ferroftp_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "limit" -d 'Set quotas and bandwidth limits in DIR/data/limits.txt (works while the server runs); with no option, show what applies. A value `none` lifts a limit, `default` takes the value of the `*` line again'
