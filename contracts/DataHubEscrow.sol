// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title DataHub's escrow: requesters' deposits in, contributors' rewards out.
/// @notice One per chain. Requesters (or anyone on their behalf) deposit ERC-20 tokens; the relay's
/// ledger credits them from the `Deposited` events. Contributors (or anyone on their behalf) redeem
/// `RewardVoucher`s the relay signed; each pays its recipient once, before its deadline.
/// @dev The contract keeps no per-requester balances: the ledger does, and `datahub treasury audit`
/// checks that what this contract holds equals deposits minus claims. Storage is the role table,
/// the pause flag, the signer set and one bitmap word per 256 nonces of a recipient.
/// The reentrancy guard lives in transient storage (EIP-1153, Cancun): it costs ~200 gas a call
/// where the storage-slot guard costs ~2,300 net.
contract DataHubEscrow is AccessControl, Pausable, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;

    /// A reward: `amount` base units of `token` for `recipient`, redeemable once (per recipient
    /// and `nonce`) until `deadline` (a Unix time in seconds, inclusive).
    struct RewardVoucher {
        address recipient;
        address token;
        uint256 amount;
        uint256 nonce;
        uint256 deadline;
    }

    /// May pause and unpause (so may the admin).
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// keccak256 of the EIP-712 type, exactly as the relay signs it.
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("RewardVoucher(address recipient,address token,uint256 amount,uint256 nonce,uint256 deadline)");

    mapping(address signer => bool) private _signers;

    /// Bit `nonce & 255` of word `nonce >> 8` is set once the voucher is redeemed. The relay hands
    /// out nonces 0, 1, 2, … per recipient, so 256 claims share one word: after the first, a claim
    /// writes a non-zero word (2,900 gas) instead of a fresh one (20,000).
    mapping(address recipient => mapping(uint256 word => uint256 bits)) private _usedNonces;

    event Deposited(address indexed requester, address indexed token, address indexed from, uint256 amount);
    event Claimed(address indexed recipient, address indexed token, uint256 indexed nonce, uint256 amount);
    event SignerSet(address indexed signer, bool allowed);

    /// The zero address was given where an account is needed.
    error ZeroAddress();
    /// A deposit of nothing, or of a token that moved nothing into the escrow.
    error NothingDeposited();
    /// The voucher's deadline is in the past.
    error VoucherExpired(uint256 deadline);
    /// This recipient's voucher with this nonce was already redeemed.
    error VoucherUsed(address recipient, uint256 nonce);
    /// The voucher was signed by a key that is not (or no longer) in the signer set.
    error UnknownSigner(address signer);
    /// The caller is neither a guardian nor the admin.
    error NotGuardian(address caller);

    constructor(address admin, address guardian, address[] memory signers) EIP712("DataHub", "1") {
        if (admin == address(0) || guardian == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
        for (uint256 i = 0; i < signers.length; ++i) {
            _setSigner(signers[i], true);
        }
    }

    // ---- deposits ----

    /// Pulls `amount` of `token` from the caller into the escrow and credits `requester` with what
    /// actually arrived (a token that takes a fee on transfer credits less than `amount`).
    /// The caller must have approved the escrow for `amount` first.
    function deposit(address requester, address token, uint256 amount) external nonReentrant whenNotPaused {
        if (requester == address(0) || token == address(0)) revert ZeroAddress();
        if (amount == 0) revert NothingDeposited();
        IERC20 erc20 = IERC20(token);
        uint256 before = erc20.balanceOf(address(this));
        erc20.safeTransferFrom(msg.sender, address(this), amount);
        // The balance difference, not `amount`: the ledger must never credit more than is here.
        // nonReentrant keeps a nested deposit from being counted in both differences.
        uint256 arrived = erc20.balanceOf(address(this)) - before;
        if (arrived == 0) revert NothingDeposited();
        emit Deposited(requester, token, msg.sender, arrived);
    }

    // ---- claims ----

    /// Pays `voucher.amount` of `voucher.token` to `voucher.recipient`. Anyone may submit it (a relay
    /// sponsoring gas, a friend); the money goes to the recipient named in the signed voucher.
    function claim(RewardVoucher calldata voucher, bytes calldata signature) external nonReentrant whenNotPaused {
        if (block.timestamp > voucher.deadline) revert VoucherExpired(voucher.deadline);

        address signer = ECDSA.recoverCalldata(_hashTypedDataV4(_structHash(voucher)), signature);
        if (!_signers[signer]) revert UnknownSigner(signer);

        address recipient = voucher.recipient;
        uint256 nonce = voucher.nonce;
        mapping(uint256 => uint256) storage words = _usedNonces[recipient];
        uint256 bit = 1 << (nonce & 0xff);
        uint256 word = words[nonce >> 8];
        if (word & bit != 0) revert VoucherUsed(recipient, nonce);
        // Marked before paying (checks-effects-interactions), on top of the reentrancy guard.
        words[nonce >> 8] = word | bit;

        emit Claimed(recipient, voucher.token, nonce, voucher.amount);
        IERC20(voucher.token).safeTransfer(recipient, voucher.amount);
    }

    /// Whether `recipient`'s voucher with `nonce` was redeemed.
    function isUsed(address recipient, uint256 nonce) external view returns (bool) {
        return _usedNonces[recipient][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// The EIP-712 digest a signer signs for `voucher` on this contract and chain.
    function voucherDigest(RewardVoucher calldata voucher) external view returns (bytes32) {
        return _hashTypedDataV4(_structHash(voucher));
    }

    /// The EIP-712 domain separator (name "DataHub", version "1", this chain, this contract).
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---- signers ----

    /// Adds (`allowed` true) or removes a voucher signer. Rotation: add the new key, switch the
    /// relay to it, then remove the old one; vouchers the old key signed stop paying at once.
    function setSigner(address signer, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSigner(signer, allowed);
    }

    /// Whether vouchers signed by `signer` are paid.
    function isSigner(address signer) external view returns (bool) {
        return _signers[signer];
    }

    // ---- pause ----

    /// Stops deposits and claims. For the guardian (or the admin) when something is wrong.
    function pause() external onlyGuardianOrAdmin {
        _pause();
    }

    /// Resumes deposits and claims.
    function unpause() external onlyGuardianOrAdmin {
        _unpause();
    }

    modifier onlyGuardianOrAdmin() {
        if (!hasRole(GUARDIAN_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert NotGuardian(msg.sender);
        }
        _;
    }

    function _setSigner(address signer, bool allowed) private {
        if (signer == address(0)) revert ZeroAddress();
        _signers[signer] = allowed;
        emit SignerSet(signer, allowed);
    }

    function _structHash(RewardVoucher calldata v) private pure returns (bytes32) {
        return keccak256(abi.encode(VOUCHER_TYPEHASH, v.recipient, v.token, v.amount, v.nonce, v.deadline));
    }
}
