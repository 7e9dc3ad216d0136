//! DRP invariants D1–D5 and attacks of PROTOCOL.md §2.7–2.8, on small runs (16–32
//! servers in groups of 8).

use std::sync::{Arc, OnceLock};

use ioschain_core::codec::{Decode, Encode};
use ioschain_core::crypto::pvss::PvssError;
use ioschain_core::drp::{
    self, Client, ClientInput, ClientOutput, DrpError, Expected, Faults, I1, I2, I3, LocalRun,
    RunParams, Server, ServerInput, ServerKey, ServerOutput, ServerSet, Transcript,
};
use ioschain_core::prg::Prg;

const SERVERS_MAX: usize = 32;
const GROUP: usize = 8;

fn keys() -> &'static [ServerKey] {
    static KEYS: OnceLock<Vec<ServerKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..SERVERS_MAX)
            .map(|i| {
                let mut seed = [0x3c; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                ServerKey::from_seed(&seed)
            })
            .collect()
    })
}

fn leader() -> &'static ServerKey {
    static LEADER: OnceLock<ServerKey> = OnceLock::new();
    LEADER.get_or_init(|| ServerKey::from_seed(&[0xee; 32]))
}

fn params() -> RunParams {
    RunParams {
        purpose: b"IOS-epoch-7".to_vec(),
        time: 7,
        group_size: GROUP,
    }
}

fn run(n: usize, seed: u8, faults: &Faults) -> Result<LocalRun, DrpError> {
    drp::run_local(&keys()[..n], leader(), &params(), &[seed; 32], faults)
}

/// A run driven by hand, message by message, stopped before `I3` reaches the servers.
struct Manual {
    servers: Vec<Server>,
    client: Client,
    i2s: Vec<I2>,
    i3: I3,
}

fn set(n: usize) -> Arc<ServerSet> {
    Arc::new(ServerSet::new(keys()[..n].iter().map(ServerKey::public).collect()).unwrap())
}

fn expected(params: &RunParams) -> Expected {
    Expected {
        client: *leader().pvss().public(),
        purpose: params.purpose.clone(),
        time: params.time,
    }
}

fn servers(set: &Arc<ServerSet>, params: &RunParams) -> Vec<Server> {
    (0..set.len())
        .map(|i| {
            Server::new(
                keys()[i].clone(),
                i as u32,
                Arc::clone(set),
                expected(params),
                [i as u8; 32],
            )
        })
        .collect()
}

fn manual(n: usize) -> Manual {
    manual_with_time(n, params().time)
}

fn resign_i3(i3: &mut I3) {
    i3.sig = leader().pvss().sign(&i3.body_hash());
}

#[test]
fn d1_transcript_verifies_alone_to_the_runs_rnd_and_round_trips() {
    let done = run(32, 1, &Faults::default()).unwrap();
    assert_eq!(done.transcript.verify(), Ok(done.rnd));
    let bytes = done.transcript.to_bytes();
    let decoded = Transcript::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, done.transcript);
    assert_eq!(decoded.to_bytes(), bytes);
    assert_eq!(decoded.verify(), Ok(done.rnd));
    assert!(done.blames.is_empty());
}

#[test]
fn d1_any_flipped_bit_in_the_encoded_transcript_is_rejected() {
    let done = run(16, 2, &Faults::default()).unwrap();
    let bytes = done.transcript.to_bytes();
    // Stratified over the whole encoding (every field region gets hit), plus random bits.
    let flips_max = 400;
    let stride = bytes.len().div_ceil(flips_max);
    let mut prg = Prg::new(&[b"d1-flips"]);
    let mut checked = 0;
    for start in (0..bytes.len()).step_by(stride) {
        let byte = start + prg.below(stride as u64) as usize % (bytes.len() - start);
        let bit = prg.below(8) as u8;
        let mut flipped = bytes.clone();
        flipped[byte] ^= 1 << bit;
        let verdict = Transcript::from_bytes(&flipped)
            .map_err(DrpError::from)
            .and_then(|t| t.verify());
        assert!(
            verdict.is_err(),
            "bit {bit} of byte {byte} flipped and still accepted"
        );
        checked += 1;
    }
    assert!(checked >= flips_max / 2, "{checked} flips");
    // Truncations and trailing bytes are decode errors, never panics.
    for cut in [0, 1, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(Transcript::from_bytes(&bytes[..cut]).is_err());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Transcript::from_bytes(&longer).is_err());
}

#[test]
fn d2_server_reveals_only_on_a_cosignature_over_the_list_it_signed() {
    let mut run = manual(16);
    // Before I2, a server does not take I3.
    let set = set(16);
    let params = params();
    let mut fresh = servers(&set, &params);
    assert_eq!(
        fresh[0]
            .handle(ServerInput::I3(run.i3.clone()))
            .unwrap_err(),
        DrpError::UnexpectedMessage { message: "I3" }
    );
    // Another chosen list (even one signed by the client) is refused.
    let mut other_list = run.i3.clone();
    let last = other_list.chosen.len() - 1;
    other_list.chosen[last] ^= 1;
    resign_i3(&mut other_list);
    assert!(matches!(
        run.servers[0].handle(ServerInput::I3(other_list)),
        Err(DrpError::BadChosenList)
    ));
    // A broken collective signature is refused.
    let mut bad_cosig = run.i3.clone();
    bad_cosig.cosig.response[0] ^= 1;
    resign_i3(&mut bad_cosig);
    assert!(matches!(
        run.servers[0].handle(ServerInput::I3(bad_cosig)),
        Err(DrpError::BadCollectiveSignature(_))
    ));
    // The real I3 is answered with R3.
    assert!(matches!(
        run.servers[0].handle(ServerInput::I3(run.i3.clone())),
        Ok(ServerOutput::R3(_))
    ));
    let _ = (&run.client, &run.i2s);
}

#[test]
fn d3_every_group_has_exactly_t_chosen_secrets_recovered_from_t_shares() {
    let done = run(32, 3, &Faults::default()).unwrap();
    let transcript = &done.transcript;
    let set = set(32);
    let session = drp::Session::new(
        Arc::clone(&set),
        *leader().pvss().public(),
        &transcript.i1.purpose,
        transcript.i1.time,
        transcript.i1.group_count as usize,
        transcript.i1.grouping_seed,
    )
    .unwrap();
    assert_eq!(session.groups().len(), 4);
    let per_group = session.check_chosen(&transcript.i3.chosen).unwrap();
    for (g, dealers) in per_group.iter().enumerate() {
        let t = session.threshold(g);
        assert_eq!(t, GROUP / 3 + 1);
        assert_eq!(dealers.len(), t);
        let reveals = transcript
            .r3s
            .iter()
            .filter(|r3| session.place(r3.server).0 as usize == g)
            .count();
        assert!(reveals >= t, "group {g}: {reveals} reveals");
    }
    // A list with t+1 or t−1 secrets in a group is not a valid chosen list.
    let mut more = transcript.i3.chosen.clone();
    let extra = session.groups()[0]
        .iter()
        .find(|s| !more.contains(s))
        .copied()
        .unwrap();
    more.push(extra);
    more.sort_unstable();
    assert_eq!(session.check_chosen(&more), Err(DrpError::BadChosenList));
    let fewer = &transcript.i3.chosen[1..];
    assert_eq!(session.check_chosen(fewer), Err(DrpError::BadChosenList));
    // A transcript that drops reveals below t in a group is rejected.
    let mut short = transcript.clone();
    let g0 = session.place(short.r3s[0].server).0;
    short
        .r3s
        .retain(|r3| session.place(r3.server).0 != g0 || r3.server == transcript.r3s[0].server);
    assert!(matches!(
        short.verify(),
        Err(DrpError::TooFewReveals { .. })
    ));
}

#[test]
fn d4_messages_bound_to_another_sid_are_rejected() {
    let set = set(16);
    let params = params();
    let mut servers = servers(&set, &params);
    let (_, i1) = Client::new(leader().clone(), Arc::clone(&set), &params, [9; 32]).unwrap();
    // Another purpose or time: not the run the server expects.
    let other_params = RunParams {
        time: 8,
        ..params.clone()
    };
    let (_, other) =
        Client::new(leader().clone(), Arc::clone(&set), &other_params, [9; 32]).unwrap();
    assert_eq!(
        servers[0]
            .handle(ServerInput::I1(other.clone()))
            .unwrap_err(),
        DrpError::UnexpectedRun
    );
    // A SID that does not hash this run's layout (here: another grouping seed's SID).
    let (_, regrouped) =
        Client::new(leader().clone(), Arc::clone(&set), &params, [10; 32]).unwrap();
    let mut forged = I1 {
        sid: regrouped.sid,
        ..i1.clone()
    };
    forged.sig = leader().pvss().sign(&forged.body_hash());
    assert_eq!(
        servers[0].handle(ServerInput::I1(forged)).unwrap_err(),
        DrpError::SidMismatch { message: "I1" }
    );
    // An R1 made for one run is rejected by the client of another.
    let ServerOutput::R1(r1) = servers[0].handle(ServerInput::I1(i1)).unwrap() else {
        panic!("R1 expected");
    };
    let (mut other_client, _) =
        Client::new(leader().clone(), Arc::clone(&set), &params, [10; 32]).unwrap();
    assert_eq!(
        other_client.handle(ClientInput::R1(r1)).unwrap_err(),
        DrpError::SidMismatch { message: "R1" }
    );
    // Replaying a finished run's I3 into a later run.
    let earlier = manual(16);
    let mut later = manual_with_time(16, 8);
    assert_eq!(
        later.servers[0]
            .handle(ServerInput::I3(earlier.i3.clone()))
            .unwrap_err(),
        DrpError::SidMismatch { message: "I3" }
    );
}

fn manual_with_time(n: usize, time: u64) -> Manual {
    let set = set(n);
    let params = RunParams { time, ..params() };
    let mut servers = servers(&set, &params);
    let (mut client, i1) = Client::new(leader().clone(), set, &params, [9; 32]).unwrap();
    let mut output = ClientOutput::Wait;
    for server in &mut servers {
        let ServerOutput::R1(r1) = server.handle(ServerInput::I1(i1.clone())).unwrap() else {
            panic!("R1 expected");
        };
        output = client.handle(ClientInput::R1(r1)).unwrap();
    }
    let ClientOutput::I2(ref i2s) = output else {
        panic!("I2 expected");
    };
    let i2s = i2s.clone();
    for i2 in &i2s {
        let ServerOutput::R2(r2) = servers[i2.to as usize]
            .handle(ServerInput::I2(i2.clone()))
            .unwrap()
        else {
            panic!("R2 expected");
        };
        output = client.handle(ClientInput::R2(r2)).unwrap();
    }
    let ClientOutput::I3(i3) = output else {
        panic!("I3 expected");
    };
    Manual {
        servers,
        client,
        i2s,
        i3,
    }
}

#[test]
fn d5_same_inputs_give_the_same_rnd_transcript_and_grouping() {
    let one = run(16, 5, &Faults::default()).unwrap();
    let two = run(16, 5, &Faults::default()).unwrap();
    assert_eq!(one.rnd, two.rnd);
    assert_eq!(one.transcript.to_bytes(), two.transcript.to_bytes());
    // Every verifier derives the same rnd.
    let decoded = Transcript::from_bytes(&one.transcript.to_bytes()).unwrap();
    assert_eq!(decoded.verify(), Ok(one.rnd));
    // Fresh inputs change the output.
    let three = run(16, 6, &Faults::default()).unwrap();
    assert_ne!(one.rnd, three.rnd);
    // The grouping is a function of its seed alone.
    let grouping = |seed: u8| {
        let (client, _) = Client::new(leader().clone(), set(16), &params(), [seed; 32]).unwrap();
        client.session().groups().to_vec()
    };
    assert_eq!(grouping(1), grouping(1));
    assert_ne!(grouping(1), grouping(2));
}

#[test]
fn attack_bad_encrypted_share_is_blamed_with_its_dleq_and_its_secret_dropped() {
    // Find the first dealer of group 0 for this seed, and make it cheat.
    let honest = run(16, 7, &Faults::default()).unwrap();
    let first = honest.transcript.i3.chosen[0];
    let faults = Faults {
        bad_dealers: vec![first],
        ..Faults::default()
    };
    let done = run(16, 7, &faults).unwrap();
    assert_eq!(
        done.blames,
        vec![drp::Blame {
            server: first,
            error: DrpError::Pvss {
                server: first,
                error: PvssError::BadEncryptedShare { index: 0 },
            },
        }]
    );
    assert!(!done.transcript.i3.chosen.contains(&first));
    assert_eq!(done.transcript.verify(), Ok(done.rnd));
    assert_ne!(done.rnd, honest.rnd);
}

#[test]
fn attack_servers_withholding_r3_are_tolerated_while_t_per_group_answer() {
    // Groups of 8 have t = 3: five silent members per group are tolerated, six are not.
    let honest = run(16, 8, &Faults::default()).unwrap();
    let set = set(16);
    let session = drp::Session::new(
        set,
        *leader().pvss().public(),
        &honest.transcript.i1.purpose,
        honest.transcript.i1.time,
        honest.transcript.i1.group_count as usize,
        honest.transcript.i1.grouping_seed,
    )
    .unwrap();
    let silent = |count: usize| -> Vec<u32> {
        session
            .groups()
            .iter()
            .flat_map(|members| members[..count].to_vec())
            .collect()
    };
    let done = run(
        16,
        8,
        &Faults {
            silent_r3: silent(5),
            ..Faults::default()
        },
    )
    .unwrap();
    assert_eq!(
        done.rnd, honest.rnd,
        "any t reveals recover the same secrets"
    );
    assert_eq!(done.transcript.verify(), Ok(done.rnd));
    let failed = run(
        16,
        8,
        &Faults {
            silent_r3: silent(6),
            ..Faults::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        failed,
        DrpError::TooFewReveals {
            need: 3,
            got: 2,
            ..
        }
    ));
}

#[test]
fn attack_leader_withholding_i1_or_i3_ends_in_a_timeout_outcome() {
    let no_i1 = run(
        16,
        9,
        &Faults {
            leader_withholds_i1: true,
            ..Faults::default()
        },
    )
    .unwrap_err();
    assert_eq!(no_i1, DrpError::LeaderSilent { awaited: "I1" });
    let no_i3 = run(
        16,
        9,
        &Faults {
            leader_withholds_i3: true,
            ..Faults::default()
        },
    )
    .unwrap_err();
    assert_eq!(no_i3, DrpError::LeaderSilent { awaited: "I3" });
}

#[test]
fn attack_too_few_r1_responders_fail_the_run() {
    let failed = run(
        16,
        10,
        &Faults {
            silent_r1: (0..6).collect(),
            ..Faults::default()
        },
    )
    .unwrap_err();
    assert_eq!(failed, DrpError::TooFewResponders { got: 10, need: 11 });
}

#[test]
fn attack_client_cannot_swap_the_chosen_list_after_cosigning() {
    let done = run(16, 11, &Faults::default()).unwrap();
    let mut swapped = done.transcript.clone();
    // Another valid-shaped list, signed by the client but not cosigned by the servers.
    let set = set(16);
    let session = drp::Session::new(
        set,
        *leader().pvss().public(),
        &swapped.i1.purpose,
        swapped.i1.time,
        swapped.i1.group_count as usize,
        swapped.i1.grouping_seed,
    )
    .unwrap();
    let group = &session.groups()[0];
    let out = swapped
        .i3
        .chosen
        .iter()
        .position(|d| group.contains(d))
        .unwrap();
    let replacement = *group
        .iter()
        .find(|s| !swapped.i3.chosen.contains(s))
        .unwrap();
    swapped.i3.chosen[out] = replacement;
    swapped.i3.chosen.sort_unstable();
    resign_i3(&mut swapped.i3);
    assert!(matches!(
        swapped.verify(),
        Err(DrpError::BadCollectiveSignature(_))
    ));
}

#[test]
fn signer_withholding_r2_ends_the_cosi_round_in_a_failure_outcome() {
    // CoSi binds its signer set into the challenge, so a missing response cannot be
    // absorbed: the run fails (and the next leader runs the DRP, §3).
    let set = set(16);
    let params = params();
    let mut servers = servers(&set, &params);
    let (mut client, i1) = Client::new(leader().clone(), set, &params, [9; 32]).unwrap();
    let mut output = ClientOutput::Wait;
    for server in &mut servers {
        let ServerOutput::R1(r1) = server.handle(ServerInput::I1(i1.clone())).unwrap() else {
            panic!("R1 expected");
        };
        output = client.handle(ClientInput::R1(r1)).unwrap();
    }
    let ClientOutput::I2(i2s) = output else {
        panic!("I2 expected");
    };
    let withheld = i2s[3].to;
    for i2 in i2s.into_iter().filter(|i2| i2.to != withheld) {
        let ServerOutput::R2(r2) = servers[i2.to as usize].handle(ServerInput::I2(i2)).unwrap()
        else {
            panic!("R2 expected");
        };
        assert!(matches!(
            client.handle(ClientInput::R2(r2)).unwrap(),
            ClientOutput::Wait
        ));
    }
    let ClientOutput::Failed(error) = client.handle(ClientInput::Timeout).unwrap() else {
        panic!("failure expected");
    };
    assert_eq!(error, DrpError::CosiIncomplete { server: withheld });
}
