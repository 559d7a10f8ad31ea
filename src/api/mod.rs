//! The HTTP admin API (`walletops serve`): the seed's endpoints over the
//! `admin` module.
