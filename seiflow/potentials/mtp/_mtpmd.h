/* MD steps with the MTP inside the compiled library (included by _mtpkernel.c after
 * mtp_evaluate): velocity Verlet, optionally with a Nose-Hoover chain, the same operator
 * splitting and the same arithmetic as ASE's VelocityVerlet and NoseHooverChainNVT (tloop 1,
 * the fourth-order Suzuki-Yoshida weights), so that seiflow md gives ASE's trajectory while the
 * steps between two MD events never return to Python (seiflow/md/native.py).
 *
 * A step is two halves: A (chain over dt/2, half kick, drift) and B (forces at the new
 * positions, half kick, chain over dt/2). The neighbour list is the caller's (CSR, built with
 * a skin around the positions `ref`); it stays valid while no atom moved more than half the
 * skin from `ref` (`max_shift2` = (skin/2)^2, the test of neighbours.py's SkinList for a fixed
 * cell). When a drift leaves it, the call returns between A and B (`*mid` = 1) for the caller
 * to rebuild the list and call again with `start_mid` = 1, which begins with B. */

/* ASE's FOURTH_ORDER_COEFFS, computed the same way: 1/(2 - 2^(1/3)), -2^(1/3)/(2 - 2^(1/3)) */
static double sy4(int w)
{
    double c = pow(2.0, 1.0 / 3.0);
    return w == 1 ? -c / (2.0 - c) : 1.0 / (2.0 - c);
}

typedef struct {
    int tchain;          /* 0: NVE */
    double kT, n_dof_kT; /* kT (eV) and 3 N kT */
    const double *Q;     /* chain masses (tchain) */
    double *eta, *p_eta; /* chain positions and momenta (tchain), updated */
} mtp_chain;

static void chain_p_eta(mtp_chain *c, int j, double ke2, double d2, double d4)
{
    int last = c->tchain - 1;
    if (j < last)
        c->p_eta[j] *= exp(-d4 * c->p_eta[j + 1] / c->Q[j + 1]);
    double g = j == 0 ? ke2 - c->n_dof_kT : c->p_eta[j - 1] * c->p_eta[j - 1] / c->Q[j - 1] - c->kT;
    c->p_eta[j] += d2 * g;
    if (j < last)
        c->p_eta[j] *= exp(-d4 * c->p_eta[j + 1] / c->Q[j + 1]);
}

static double twice_kinetic(int n, const double *mom, const double *mass)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < 3; a++)
            s += mom[3 * i + a] * mom[3 * i + a] / mass[i];
    return s;
}

/* exp(i L_NHC delta): ASE's integrate_nhc with tloop 1. */
static void chain_half(mtp_chain *c, int n, double *mom, const double *mass, double delta)
{
    for (int w = 0; w < 3; w++) {
        double d = sy4(w) * delta, d2 = d / 2, d4 = d / 4;
        double ke2 = twice_kinetic(n, mom, mass);
        for (int j = c->tchain - 1; j >= 0; j--)
            chain_p_eta(c, j, ke2, d2, d4);
        for (int j = 0; j < c->tchain; j++)
            c->eta[j] += d * c->p_eta[j] / c->Q[j];
        double s = exp(-d * c->p_eta[0] / c->Q[0]);
        for (int q = 0; q < 3 * n; q++)
            mom[q] *= s;
        ke2 = twice_kinetic(n, mom, mass);
        for (int j = 0; j < c->tchain; j++)
            chain_p_eta(c, j, ke2, d2, d4);
    }
}

/* Up to n_steps steps from (pos, mom, forces at pos). Returns the steps completed, or -1 when
 * the kernel ran out of memory; *mid = 1 when it stopped after half A of the next step (the
 * list must be rebuilt around the new positions). energies, forces and virial hold the last
 * evaluation; basis (or NULL) is filled by the evaluation that ends step n_steps. */
MTP_EXPORT int mtp_md_steps(const mtp_model *M, int n_atoms, double *pos, double *mom,
                            const double *mass, const double *cell, const int *types,
                            const int64_t *offsets, const int32_t *nj, const int32_t *ns,
                            int n_threads, const double *ref, double max_shift2, int n_steps,
                            double dt, int start_mid, int tchain, double kT, const double *Q,
                            double *eta, double *p_eta, double *energies, double *forces,
                            double *virial, double *basis, int *mid)
{
    mtp_chain c = {tchain, kT, 3.0 * n_atoms * kT, Q, eta, p_eta};
    *mid = 0;
    for (int step = 0; step < n_steps; step++) {
        if (!(step == 0 && start_mid)) {
            if (tchain > 0)
                chain_half(&c, n_atoms, mom, mass, dt / 2);
            double worst = 0.0;
            for (int i = 0; i < n_atoms; i++) {
                double s2 = 0.0;
                for (int a = 0; a < 3; a++) {
                    int q = 3 * i + a;
                    mom[q] += dt / 2 * forces[q];
                    pos[q] += dt * mom[q] / mass[i];
                    double d = pos[q] - ref[3 * i + a];
                    s2 += d * d;
                }
                worst = s2 > worst ? s2 : worst;
            }
            if (!(worst <= max_shift2)) { /* NaN too: the caller sees a non-finite state */
                *mid = 1;
                return step;
            }
        }
        if (mtp_evaluate(M, n_atoms, pos, cell, types, offsets, nj, ns, n_threads, energies,
                         forces, virial, step == n_steps - 1 ? basis : NULL) != 0)
            return -1;
        for (int q = 0; q < 3 * n_atoms; q++)
            mom[q] += dt / 2 * forces[q];
        if (tchain > 0)
            chain_half(&c, n_atoms, mom, mass, dt / 2);
    }
    return n_steps;
}

/* ---------------------------------------------------------------- NPT: ASE's MTKNPT
 * (Martyna-Tobias-Klein full-cell barostat with a Nose-Hoover chain on the particles and one
 * on the cell momenta; tchain = pchain = 3, tloop = ploop = 1, no mask), the same splitting:
 * baro-chain/2, chain/2, cell kick/2, kick/2, drift, cell drift | forces, kick/2, cell kick/2,
 * chain/2, baro-chain/2. Cell rows are the cell vectors; the neighbour list stays valid while
 * 2 delta + eps (cutoff + skin) <= skin, delta the largest change of an atom's fractional
 * position (in the new cell) and eps the spectral norm of ref_inv (h - h_ref): SkinList's test
 * for a changed cell. */

typedef struct {
    double W, P, cell_dof_kT, kT; /* cell mass, external pressure (eV/A^3), 9 kT, kT */
    const double *R;              /* cell-chain masses (3) */
    double *xi, *p_xi, *p_g;      /* cell-chain positions and momenta, cell momenta (3 x 3) */
} mtp_baro;

/* Eigen decomposition of a symmetric 3 x 3 matrix by cyclic Jacobi rotations: a = U diag(w)
 * U^T, columns of U the eigenvectors (row-major u[3 * row + col]). */
static void eigh3(const double *a, double *w, double *u)
{
    double m[9];
    memcpy(m, a, sizeof m);
    for (int q = 0; q < 9; q++)
        u[q] = q % 4 == 0;
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = m[1] * m[1] + m[2] * m[2] + m[5] * m[5];
        double scale = m[0] * m[0] + m[4] * m[4] + m[8] * m[8];
        if (off <= 1e-32 * scale || off == 0.0)
            break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                double apq = m[3 * p + q];
                if (apq == 0.0)
                    continue;
                double theta = (m[3 * q + q] - m[3 * p + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < 3; k++) { /* m <- m J (columns p, q) */
                    double mkp = m[3 * k + p], mkq = m[3 * k + q];
                    m[3 * k + p] = c * mkp - s * mkq;
                    m[3 * k + q] = s * mkp + c * mkq;
                }
                for (int k = 0; k < 3; k++) { /* m <- J^T m (rows p, q) */
                    double mpk = m[3 * p + k], mqk = m[3 * q + k];
                    m[3 * p + k] = c * mpk - s * mqk;
                    m[3 * q + k] = s * mpk + c * mqk;
                }
                for (int k = 0; k < 3; k++) { /* u <- u J */
                    double ukp = u[3 * k + p], ukq = u[3 * k + q];
                    u[3 * k + p] = c * ukp - s * ukq;
                    u[3 * k + q] = s * ukp + c * ukq;
                }
            }
    }
    for (int k = 0; k < 3; k++)
        w[k] = m[4 * k];
}

static double exprel(double x) { return fabs(x) < 1e-16 ? 1.0 : expm1(x) / x; }

static double det3(const double *h)
{
    return h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6]) +
           h[2] * (h[3] * h[7] - h[4] * h[6]);
}

static void inv3(const double *h, double *inv)
{
    double d = det3(h);
    inv[0] = (h[4] * h[8] - h[5] * h[7]) / d;
    inv[1] = (h[2] * h[7] - h[1] * h[8]) / d;
    inv[2] = (h[1] * h[5] - h[2] * h[4]) / d;
    inv[3] = (h[5] * h[6] - h[3] * h[8]) / d;
    inv[4] = (h[0] * h[8] - h[2] * h[6]) / d;
    inv[5] = (h[2] * h[3] - h[0] * h[5]) / d;
    inv[6] = (h[3] * h[7] - h[4] * h[6]) / d;
    inv[7] = (h[1] * h[6] - h[0] * h[7]) / d;
    inv[8] = (h[0] * h[4] - h[1] * h[3]) / d;
}

/* exp(i L_NHC-baro delta): ASE's MTKBarostat.integrate_nhc_baro. */
static void baro_half(mtp_baro *b, double delta)
{
    for (int w = 0; w < 3; w++) {
        double d = sy4(w) * delta, d2 = d / 2, d4 = d / 4;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                for (int j = 0; j < 3; j++)
                    b->xi[j] += d * b->p_xi[j] / b->R[j];
                double s = exp(-d * b->p_xi[0] / b->R[0]);
                for (int q = 0; q < 9; q++)
                    b->p_g[q] *= s;
            }
            double g2 = 0.0;
            for (int q = 0; q < 9; q++)
                g2 += b->p_g[q] * b->p_g[q];
            for (int k = 0; k < 3; k++) {
                int j = pass == 0 ? 2 - k : k;
                if (j < 2)
                    b->p_xi[j] *= exp(-d4 * b->p_xi[j + 1] / b->R[j + 1]);
                double g = j == 0 ? g2 / b->W - b->cell_dof_kT
                                  : b->p_xi[j - 1] * b->p_xi[j - 1] / b->R[j - 1] - b->kT;
                b->p_xi[j] += d2 * g;
                if (j < 2)
                    b->p_xi[j] *= exp(-d4 * b->p_xi[j + 1] / b->R[j + 1]);
            }
        }
    }
}

/* p_g += delta G, G = V (-stress - P) + (sum p^2/m) / 3N: stress from the virial (ASE's sign)
 * plus the ideal-gas part of the current momenta. */
static void cell_kick(mtp_baro *b, int n, const double *mom, const double *mass,
                      const double *h, const double *virial, double delta)
{
    double vol = fabs(det3(h)), kin[9] = {0}, ke2 = 0.0;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < 3; a++) {
            for (int c = 0; c < 3; c++)
                kin[3 * a + c] += mom[3 * i + a] * mom[3 * i + c] / mass[i];
            ke2 += mom[3 * i + a] * mom[3 * i + a] / mass[i];
        }
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 3; c++) {
            double stress =
                0.5 * (virial[3 * a + c] + virial[3 * c + a]) / vol - kin[3 * a + c] / vol;
            double g = vol * (-stress - (a == c ? b->P : 0.0)) + (a == c ? ke2 / (3.0 * n) : 0.0);
            b->p_g[3 * a + c] += delta * g;
        }
}

/* v U and v U^T for one 3-vector (u row-major, columns the eigenvectors) */
static void times_u(const double *v, const double *u, double *out)
{
    for (int k = 0; k < 3; k++)
        out[k] = v[0] * u[k] + v[1] * u[3 + k] + v[2] * u[6 + k];
}

static void times_ut(const double *v, const double *u, double *out)
{
    for (int k = 0; k < 3; k++)
        out[k] = v[0] * u[3 * k] + v[1] * u[3 * k + 1] + v[2] * u[3 * k + 2];
}

/* exp(i L_2 delta): momenta kicked by the forces with the cell-momentum drag. */
static void npt_kick(const mtp_baro *b, int n, double *mom, const double *forces, double delta)
{
    double w[3], u[9];
    eigh3(b->p_g, w, u);
    double trace = b->p_g[0] + b->p_g[4] + b->p_g[8], e[3], r[3];
    for (int k = 0; k < 3; k++) {
        double x = -(w[k] + trace / (3.0 * n)) * delta / b->W;
        e[k] = exp(x);
        r[k] = delta * exprel(x);
    }
    for (int i = 0; i < n; i++) {
        double y[3], f[3], sol[3];
        times_u(mom + 3 * i, u, y);
        times_u(forces + 3 * i, u, f);
        for (int k = 0; k < 3; k++)
            sol[k] = y[k] * e[k] + f[k] * r[k];
        times_ut(sol, u, mom + 3 * i);
    }
}

/* exp(i L_1 delta) and exp(i L_g1 delta): positions and cell drift. */
static void npt_drift(const mtp_baro *b, int n, double *pos, const double *mom,
                      const double *mass, double *h, double delta)
{
    double w[3], u[9], e[3], r[3];
    eigh3(b->p_g, w, u);
    for (int k = 0; k < 3; k++) {
        double x = w[k] * delta / b->W;
        e[k] = exp(x);
        r[k] = delta * exprel(x);
    }
    for (int i = 0; i < n; i++) {
        double x[3], y[3], sol[3];
        times_u(pos + 3 * i, u, x);
        times_u(mom + 3 * i, u, y);
        for (int k = 0; k < 3; k++)
            sol[k] = x[k] * e[k] + y[k] / mass[i] * r[k];
        times_ut(sol, u, pos + 3 * i);
    }
    for (int a = 0; a < 3; a++) {
        double x[3];
        times_u(h + 3 * a, u, x);
        for (int k = 0; k < 3; k++)
            x[k] *= e[k];
        times_ut(x, u, h + 3 * a);
    }
}

/* SkinList's test for a changed cell (see above). */
static int list_valid(int n, const double *pos, const double *h, const double *ref,
                      const double *ref_h, const double *ref_inv, double cut_skin, double skin)
{
    double inv[9], dh[9], m[9], mtm[9], w[3], u[9], worst = 0.0;
    inv3(h, inv);
    for (int q = 0; q < 9; q++)
        dh[q] = h[q] - ref_h[q];
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 3; c++)
            m[3 * a + c] = ref_inv[3 * a] * dh[c] + ref_inv[3 * a + 1] * dh[3 + c] +
                           ref_inv[3 * a + 2] * dh[6 + c];
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 3; c++)
            mtm[3 * a + c] = m[a] * m[c] + m[3 + a] * m[3 + c] + m[6 + a] * m[6 + c];
    eigh3(mtm, w, u);
    double eps = sqrt(fmax(fmax(w[0], w[1]), fmax(w[2], 0.0)));
    for (int i = 0; i < n; i++) {
        double df[3], d2 = 0.0;
        for (int c = 0; c < 3; c++) {
            const double *x = pos + 3 * i, *x0 = ref + 3 * i;
            df[c] = x[0] * inv[c] + x[1] * inv[3 + c] + x[2] * inv[6 + c] -
                    (x0[0] * ref_inv[c] + x0[1] * ref_inv[3 + c] + x0[2] * ref_inv[6 + c]);
        }
        for (int c = 0; c < 3; c++) {
            double d = df[0] * h[c] + df[1] * h[3 + c] + df[2] * h[6 + c];
            d2 += d * d;
        }
        worst = d2 > worst ? d2 : worst;
    }
    return 2.0 * sqrt(worst) + eps * cut_skin <= skin; /* NaN: not valid */
}

/* mtp_md_steps for NPT: the cell h (3 x 3, rows) changes too; ref_h and ref_inv are the cell
 * the list was built in and its inverse; cut_skin = cutoff + skin. */
MTP_EXPORT int mtp_npt_steps(const mtp_model *M, int n_atoms, double *pos, double *mom,
                             const double *mass, double *h, const int *types,
                             const int64_t *offsets, const int32_t *nj, const int32_t *ns,
                             int n_threads, const double *ref, const double *ref_h,
                             const double *ref_inv, double cut_skin, double skin, int n_steps,
                             double dt, int start_mid, double kT, const double *Q, double *eta,
                             double *p_eta, double W, double P, const double *R, double *xi,
                             double *p_xi, double *p_g, double *energies, double *forces,
                             double *virial, double *basis, int *mid)
{
    mtp_chain c = {3, kT, 3.0 * n_atoms * kT, Q, eta, p_eta};
    mtp_baro b = {W, P, 9.0 * kT, kT, R, xi, p_xi, p_g};
    *mid = 0;
    for (int step = 0; step < n_steps; step++) {
        if (!(step == 0 && start_mid)) {
            baro_half(&b, dt / 2);
            chain_half(&c, n_atoms, mom, mass, dt / 2);
            cell_kick(&b, n_atoms, mom, mass, h, virial, dt / 2);
            npt_kick(&b, n_atoms, mom, forces, dt / 2);
            npt_drift(&b, n_atoms, pos, mom, mass, h, dt);
            if (!list_valid(n_atoms, pos, h, ref, ref_h, ref_inv, cut_skin, skin)) {
                *mid = 1;
                return step;
            }
        }
        if (mtp_evaluate(M, n_atoms, pos, h, types, offsets, nj, ns, n_threads, energies,
                         forces, virial, step == n_steps - 1 ? basis : NULL) != 0)
            return -1;
        npt_kick(&b, n_atoms, mom, forces, dt / 2);
        cell_kick(&b, n_atoms, mom, mass, h, virial, dt / 2);
        chain_half(&c, n_atoms, mom, mass, dt / 2);
        baro_half(&b, dt / 2);
    }
    return n_steps;
}
