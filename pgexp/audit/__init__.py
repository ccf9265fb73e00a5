"""The practice audit: what common implementation choices do to the gradient, measured against the exact one.

Users of policy-gradient code ask whether dropping the ``gamma^h`` factor, normalising advantages per
batch or cutting episodes at a time limit matters.  pgexp answers exactly where it can:

* :mod:`pgexp.audit.variants` -- the choices (``common``, ``normalize``, ``truncate``) and the estimator
  variants each one compares with its textbook reference (no numerical imports: the study reads it);
* :mod:`pgexp.audit.table` -- the audit table: Monte-Carlo bias, variance, MSE and the cosine of the mean
  with intervals, the paired variance ratio to the textbook estimator, and the exact values beside them;
* :mod:`pgexp.audit.normalization` -- the exact bias of normalised batches by enumeration, and its rate in ``N``;
* :mod:`pgexp.audit.signflip` -- an exact search over small random MDPs for a common variant whose mean
  points away from ``grad J``.

The estimators and options themselves live where every other estimator does (:mod:`pgexp.estimators`,
:mod:`pgexp.estimators.practice`); their exact moments in :mod:`pgexp.exact.practice` and
:mod:`pgexp.exact.normalization`.
"""
