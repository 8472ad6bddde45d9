//! The one integration-test crate: every test drives a real ferroftp over real sockets.

mod cli;
mod clients;
mod support;

mod smoke {
    use crate::support::{ALICE, TestServer};

    #[test]
    fn greeting_login_and_pwd() {
        let server = TestServer::start();
        let mut raw = server.login(ALICE);
        assert_eq!(
            raw.cmd("PWD"),
            "257 \"/alice\" is the current directory.\r\n"
        );
        assert_eq!(raw.cmd("QUIT"), "221 Goodbye.\r\n");
    }
}
