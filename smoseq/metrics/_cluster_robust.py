"""Bias-reduced cluster-robust (CR2) sandwich variance and its Satterthwaite degrees of freedom.

For an M-estimator β̂ with bread A = H⁻¹ (H the (penalised) information) and clusters
r = 1..R (recordings), each with score s_r = Z_rᵀ ẽ_r and information block
M_r = Z_rᵀ Z_r (Z_r = W_r^½ X_r its weighted design, ẽ_r its standardised residuals), the
usual cluster-robust variance A (Σ_r s_r s_rᵀ) A is biased downwards with few clusters:
the residuals ẽ = (I − P) ε shrink by the leverage P = Z A Zᵀ. The CR2 variance of Bell
and McCaffrey (2002) undoes that shrinkage cluster by cluster,

    V = A (Σ_r s̃_r s̃_rᵀ) A,     s̃_r = Z_rᵀ (I − P_rr)^{-½} ẽ_r = (I − M_r A)^{-½} s_r,

the second form by the push-through identity Zᵀ f(Z A Zᵀ) = f(Zᵀ Z A) Zᵀ, so that only
Q × Q matrices are formed however many frames a recording has:
(I − M_r A)^{-½} = A^{-½} (I − A^½ M_r A^½)^{-½} A^½ (eigenvalues ≥ 1 − 10⁻¹⁰, a
direction only one recording informs, get 0: the pseudo-inverse square root). Under a
working model with independent unit-variance ẽ, V is unbiased. A contrast ℓᵀβ has
variance ℓᵀ V ℓ = Σ_r (g_rᵀ ε)², g_r = (I − P)_{·r} Z_r c_r, c_r = (I − A M_r)^{-½} A ℓ;
its Satterthwaite degrees of freedom (Bell–McCaffrey) are

    ν = (Σ λ)² / Σ λ²,   λ the eigenvalues of the R × R Gram matrix
    G_rs = δ_rs c_rᵀ M_r c_r − (M_r c_r)ᵀ (A + A P₀ A) (M_s c_s),

P₀ = H − Σ_r M_r the information of the prior (penalty and pseudo-data, which carry no
noise). With balanced clusters and an intercept only, V is the variance of the cluster
means over R and ν = R − 1: the classic small-sample t interval.
"""

import numpy as np

SINGULAR = 1e-10


def _symmetric_power(matrix: np.ndarray, power: float, floor: float = 0.0) -> np.ndarray:
    """matrix^power of a symmetric positive semi-definite (…, Q, Q) matrix; eigenvalues ≤ floor map to 0."""
    values, vectors = np.linalg.eigh(matrix)
    safe = np.where(values > floor, values, 1.0)
    scaled = np.where(values > floor, safe**power, 0.0)
    return (vectors * scaled[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def cr2_adjustments(blocks: np.ndarray, bread: np.ndarray) -> np.ndarray:
    """(R, Q, Q) T_r = (I − M_r A)^{-½}: s̃_r = T_r s_r.

    Args:
        blocks: (R, Q, Q) every cluster's information M_r.
        bread: (Q, Q) A = H⁻¹, H ⪰ Σ_r M_r.
    """
    root, inverse_root = _symmetric_power(bread, 0.5), _symmetric_power(bread, -0.5)
    inner = np.eye(len(bread)) - root @ blocks @ root  # I − A^½ M_r A^½, eigenvalues in [0, 1]
    return inverse_root @ _symmetric_power(inner, -0.5, SINGULAR) @ root


def cr2_covariance(scores: np.ndarray, blocks: np.ndarray, bread: np.ndarray) -> np.ndarray:
    """(Q, Q) the CR2 sandwich A (Σ_r s̃_r s̃_rᵀ) A.

    Args:
        scores: (R, Q) every cluster's score s_r at the estimate.
        blocks, bread: as `cr2_adjustments`.
    """
    adjusted = np.einsum("rqk,rk->rq", cr2_adjustments(blocks, bread), scores)
    return bread @ (adjusted.T @ adjusted) @ bread


def satterthwaite_df(contrast: np.ndarray, blocks: np.ndarray, bread: np.ndarray, information: np.ndarray) -> float:
    """Bell–McCaffrey degrees of freedom of the CR2 variance of ℓᵀβ (see the module).

    Args:
        contrast: (Q,) ℓ.
        blocks, bread: as `cr2_adjustments`.
        information: (Q, Q) H, the information `bread` inverts (H − Σ_r M_r is the prior's).

    Returns:
        ν ≥ 1 (NaN with fewer than two clusters or a zero contrast).
    """
    if len(blocks) < 2:
        return float("nan")
    c = np.swapaxes(cr2_adjustments(blocks, bread), -1, -2) @ (bread @ contrast)  # (R, Q): (I − A M_r)^{-½} A ℓ
    m = np.einsum("rqk,rk->rq", blocks, c)
    prior = information - blocks.sum(0)
    gram = np.diag(np.einsum("rq,rq->r", c, m)) - m @ (bread + bread @ prior @ bread) @ m.T
    values = np.linalg.eigvalsh((gram + gram.T) / 2)
    if np.sum(values**2) <= 0:
        return float("nan")
    return float(max(np.sum(values) ** 2 / np.sum(values**2), 1.0))
