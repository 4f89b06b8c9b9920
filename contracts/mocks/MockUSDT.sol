// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// Behaves like Tether USD on Ethereum (0xdAC17F958D2ee523a2206206994597C13D831ec7) where it
/// matters to a caller: `transfer`, `transferFrom` and `approve` return nothing (a caller that
/// expects a bool reverts when decoding), `approve` from a non-zero allowance to a non-zero one
/// reverts, 6 decimals, and an optional fee on transfer (USDT's `basisPointsRate`, zero on
/// mainnet today but settable by its owner) so the recipient may get less than was sent.
/// Anyone may mint.
contract MockUSDT {
    string public constant name = "Tether USD";
    string public constant symbol = "USDT";
    uint8 public constant decimals = 6;

    address public immutable owner;
    uint256 public totalSupply;
    uint256 public basisPointsRate;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor() {
        owner = msg.sender;
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// The fee in hundredths of a percent taken from every transfer and given to `owner`.
    function setFee(uint256 basisPoints) external {
        require(msg.sender == owner && basisPoints <= 10_000);
        basisPointsRate = basisPoints;
    }

    function transfer(address to, uint256 value) external {
        _move(msg.sender, to, value);
    }

    function transferFrom(address from, address to, uint256 value) external {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value);
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
    }

    function approve(address spender, uint256 value) external {
        require(value == 0 || allowance[msg.sender][spender] == 0);
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function _move(address from, address to, uint256 value) private {
        require(balanceOf[from] >= value);
        uint256 fee = (value * basisPointsRate) / 10_000;
        balanceOf[from] -= value;
        balanceOf[to] += value - fee;
        emit Transfer(from, to, value - fee);
        if (fee > 0) {
            balanceOf[owner] += fee;
            emit Transfer(from, owner, fee);
        }
    }
}
