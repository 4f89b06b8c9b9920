// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// A hostile ERC-20: once armed, its next transfer calls `target` with `data` (say the escrow's
/// `claim` with the same voucher, or `deposit`) before returning, and records how that call ended.
/// The reentrant call's failure is swallowed so the outer call can finish: the test then checks
/// that nothing was paid or credited twice.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public data;
    bool public attempted;
    bool public reentrySucceeded;
    bytes public reentryResult;

    constructor() ERC20("Reentrant", "REENT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// Arms one re-entry. The token approves `target` for its own balance so a re-entrant
    /// `deposit` (which pulls from its caller, this token) could succeed if the guard let it.
    function arm(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
        attempted = false;
        _approve(address(this), target_, type(uint256).max);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address t = target;
        if (t != address(0) && from != address(this)) {
            target = address(0);
            attempted = true;
            (reentrySucceeded, reentryResult) = t.call(data);
        }
    }
}
